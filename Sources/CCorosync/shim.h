#ifndef SFHA_CCOROSYNC_SHIM_H
#define SFHA_CCOROSYNC_SHIM_H
#include <corosync/corotypes.h>
#include <corosync/cmap.h>
#include <corosync/quorum.h>
#include <corosync/votequorum.h>
#include <corosync/cfg.h>
#include <corosync/cpg.h>
#include <stdlib.h>
#endif

#ifndef SFHA_CCOROSYNC_SHIM_H
#define SFHA_CCOROSYNC_SHIM_H
#include <corosync/corotypes.h>
#include <corosync/cmap.h>
#include <corosync/quorum.h>
#include <corosync/votequorum.h>
#include <corosync/cfg.h>
#include <corosync/cpg.h>
#include <stdlib.h>

/* setns(2) and CLONE_NEWNET need _GNU_SOURCE, which Swift's Glibc module is built without. */
extern int setns(int fd, int nstype);
#define SFHA_CLONE_NEWNET 0x40000000
#endif

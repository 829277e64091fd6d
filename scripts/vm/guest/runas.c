/*
 * ixy-vm-runas UID GID CMD [ARGS...]: run CMD as an unprivileged user in
 * the guest (vm_run_as_user in guest/ixy-vm.sh). Busybox has no setuidgid
 * or chpst, and its su passes a string to sh -c; this does it with no
 * quoting. Before dropping root it lifts RLIMIT_MEMLOCK: VFIO's type1
 * IOMMU backend charges every DMA-mapped page to the caller's memlock.
 * run.sh builds it with the host's gcc, statically, and caches it.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ixy-vm-runas UID GID CMD [ARGS...]\n");
        return 127;
    }
    uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
    gid_t gid = (gid_t)strtoul(argv[2], NULL, 10);
    struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
    if (setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0) {
        perror("ixy-vm-runas: setrlimit(RLIMIT_MEMLOCK)");
        return 127;
    }
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        perror("ixy-vm-runas: dropping privileges");
        return 127;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "ixy-vm-runas: cannot run %s: ", argv[3]);
    perror(NULL);
    return 127;
}

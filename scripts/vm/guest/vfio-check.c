/*
 * ixy-vm-vfio-check BDF: can this process drive BDF through VFIO? What a
 * user-space driver does first, step by step, each failure named: the
 * container and type1 IOMMU, the device's group (/sys/.../iommu_group),
 * the device fd, its PCI config space (vendor:device), and a 2 MiB DMA
 * mapping (the IOMMU translating, and RLIMIT_MEMLOCK large enough).
 * smoke.sh runs it as uid 1000 (vm_run_as_user).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static void fail(const char *what)
{
    fprintf(stderr, "ixy-vm-vfio-check: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ixy-vm-vfio-check BDF\n");
        return 2;
    }
    const char *bdf = argv[1];
    char path[PATH_MAX], link[PATH_MAX];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0)
        fail(path);
    link[n] = 0;
    const char *group = basename(link);

    int container = open("/dev/vfio/vfio", O_RDWR);
    if (container < 0)
        fail("open /dev/vfio/vfio");
    if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
        fail("VFIO_GET_API_VERSION");
    if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1)
        fail("no VFIO_TYPE1v2_IOMMU");

    snprintf(path, sizeof path, "/dev/vfio/%s", group);
    int gfd = open(path, O_RDWR);
    if (gfd < 0)
        fail(path);
    struct vfio_group_status status = { .argsz = sizeof status };
    if (ioctl(gfd, VFIO_GROUP_GET_STATUS, &status) < 0)
        fail("VFIO_GROUP_GET_STATUS");
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        errno = EBUSY;
        fail("group not viable (a device in it is not bound to vfio-pci)");
    }
    if (ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &container) < 0)
        fail("VFIO_GROUP_SET_CONTAINER");
    if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
        fail("VFIO_SET_IOMMU (interrupt remapping missing?)");

    int dev = ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (dev < 0)
        fail("VFIO_GROUP_GET_DEVICE_FD");
    struct vfio_region_info cfg = { .argsz = sizeof cfg, .index = VFIO_PCI_CONFIG_REGION_INDEX };
    if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
        fail("VFIO_DEVICE_GET_REGION_INFO(config)");
    uint16_t id[2];
    if (pread(dev, id, sizeof id, (off_t)cfg.offset) != (ssize_t)sizeof id)
        fail("reading config space");

    size_t len = 2u << 20;
    void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED)
        fail("mmap");
    struct vfio_iommu_type1_dma_map map = {
        .argsz = sizeof map,
        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        .vaddr = (uintptr_t)buf,
        .iova = 1ull << 32,
        .size = len,
    };
    if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0)
        fail("VFIO_IOMMU_MAP_DMA (memlock limit?)");
    struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof unmap, .iova = map.iova, .size = len };
    if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
        fail("VFIO_IOMMU_UNMAP_DMA");

    printf("vfio-check: %s group %s uid %u: device %04x:%04x, 2 MiB DMA-mapped at iova 0x%llx: ok\n",
           bdf, group, (unsigned)getuid(), id[0], id[1], (unsigned long long)map.iova);
    return 0;
}

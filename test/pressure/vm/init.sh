#!/bin/busybox sh
# PID 1 of the pressure-test VM: mount what Node and the scenarios need, give the memory
# controller to child cgroups (pure cgroup v2: cgroup_no_v1=all), run the job with its output
# on the second serial port and dump the kernel log there (vm/job-protocol.sh), power off. If
# this shell dies the kernel panics and, with panic=-1 and -no-reboot, QEMU exits: a broken VM
# never hangs.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
# A watchdog, in case the host that would kill this VM at its timeout is gone.
watchdog=$(sed -n 's/.*procguard\.vm_timeout=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$watchdog" ]; then (sleep "$watchdog"; echo "PROCGUARD-VM-WATCHDOG" >/dev/ttyS1; poweroff -f) & fi
sh /job-protocol.sh
poweroff -f

#!/bin/sh
# The job as run-in-vm.ts expects it, for both PID 1s (vm/init.sh; systemd's procguard-job.service):
# its output on the second serial port between the READY and EXIT markers, then the kernel log.
exec 3>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "PROCGUARD-VM-READY $(cut -d' ' -f1 /proc/uptime)" >&3
sh /vm-job.sh >&3 2>&3 </dev/null
echo "PROCGUARD-VM-EXIT $? $(cut -d' ' -f1 /proc/uptime)" >&3
echo "PROCGUARD-KERNEL-LOG-BEGIN" >&3
dmesg >&3
echo "PROCGUARD-KERNEL-LOG-END" >&3

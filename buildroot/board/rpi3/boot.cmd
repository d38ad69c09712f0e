# U-Boot boot script (compiled to boot.scr): chooses the root file system slot, A or B.
#
# BOOT_ORDER lists the slots to try; BOOT_A_LEFT / BOOT_B_LEFT are the tries each has left.
# Every boot takes one try from the slot it boots. The daemon marks a healthy slot good
# (`rauc status mark-good`), which gives its tries back; RAUC makes a newly installed slot the
# first in BOOT_ORDER with 3 tries. A new version that fails its health check is marked bad
# (no tries), one that hangs is reset by the watchdog until its tries are used: either way the
# next boot takes the other slot. The environment lives twice in the card's gap before the
# first partition (redundant: a power cut while it is written leaves the other copy).

test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv bm_part
setenv bm_slot
for slot in "${BOOT_ORDER}"; do
	if test -n "${bm_part}"; then
		# chosen already
	elif test "x${slot}" = "xA"; then
		if test ${BOOT_A_LEFT} -gt 0; then
			setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
			setenv bm_part 2
			setenv bm_slot A
		fi
	elif test "x${slot}" = "xB"; then
		if test ${BOOT_B_LEFT} -gt 0; then
			setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
			setenv bm_part 3
			setenv bm_slot B
		fi
	fi
done

if test -z "${bm_part}"; then
	# No slot has tries left: give both their tries back and start again, so that a camera
	# always boots something.
	echo "babymonitor: no slot has boot tries left; resetting the counters"
	setenv BOOT_A_LEFT 3
	setenv BOOT_B_LEFT 3
	saveenv
	reset
fi
saveenv

echo "babymonitor: booting slot ${bm_slot} (mmcblk0p${bm_part})"
# The firmware's device tree (${fdt_addr}) has config.txt's overlays applied; the kernel is
# the slot's own. watchdog.open_timeout: the watchdog U-Boot started is fed by the kernel
# only until the daemon opens it, so a trial boot that hangs before then is reset too.
setenv bootargs "root=/dev/mmcblk0p${bm_part} rauc.slot=${bm_slot} rootfstype=ext4 ro rootwait console=tty1 console=ttyAMA0,115200 watchdog.open_timeout=120"
ext4load mmc 0:${bm_part} ${kernel_addr_r} /boot/Image
booti ${kernel_addr_r} - ${fdt_addr}
# Not reached unless the slot has no kernel: the next try (or the other slot) after a reset.
reset

#!/usr/bin/env bash
# guest.sh builds and boots the qemu (TCG) guests that test jail's resource
# limits against a real cgroup v2 hierarchy and a real systemd user manager,
# neither of which the host has (hybrid cgroup v1, no systemd as PID 1).
#
#   guest.sh build             install host packages, fetch Debian's kernels,
#                              build their initramfs (all cached, idempotent)
#   guest.sh run MODE WORKDIR  boot MODE (cgroup2 or systemd) with WORKDIR
#                              shared read-write as /work; the serial console
#                              goes to stdout
#
# The two guests boot two kernels, so that jail meets an old one and a new
# one: the systemd guest Debian 12's own (6.1), the cgroup2 guest the newest
# Debian 12 has (bookworm-backports), whose exec enters a time namespace the
# process unshared, as a PROG made ahead of its task needs (Linux 6.5).
#
# The guest root is a tmpfs holding the host's /usr (9p, read-only) and an
# overlay of the host's /etc, so the guest runs the host's own userland. In
# the guest, the test user (uid 1000) runs /work/payload.sh with cwd /work and
# JAIL=/work/jail; the payload's stdout, stderr and exit status land in
# /work/stdout, /work/stderr and /work/exit-code, and /work/guest-times holds
# the guest's uptime when the payload started and ended.
#
# Environment: JAIL_VM_CACHE (default <repo>/.cache/vm), JAIL_VM_TIMEOUT
# (seconds for a whole boot, default 240), JAIL_VM_PAYLOAD_TIMEOUT (seconds
# for the payload inside the guest, default 150), JAIL_VM_APPEND (extra
# kernel command line).
#
# Exit status 3 means a prerequisite (packages, kernel) could not be
# obtained, so a test may skip; anything else non-zero is a real failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${JAIL_VM_CACHE:-$(cd "$HERE/../.." && pwd)/.cache/vm}"
VM_TIMEOUT="${JAIL_VM_TIMEOUT:-300}"
PAYLOAD_TIMEOUT="${JAIL_VM_PAYLOAD_TIMEOUT:-240}"

# qemu runs the guests; busybox-static, cpio and kmod build the initramfs.
# The rest is the guest's userland, which is the host's /usr: systemd and
# dbus-user-session give the test user a manager and a session bus,
# util-linux gives setpriv and runuser, curl is the serve checks' client.
HOST_PACKAGES=(qemu-system-x86 busybox-static cpio kmod systemd dbus dbus-user-session util-linux curl)

# Everything needed before the 9p shares are mounted; modprobe adds the
# dependencies, and names the kernel has built in are skipped.
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
	netfs 9pnet 9pnet_virtio 9p overlay)
# Loaded when the kernel has them: systemd mounts its automount points with
# autofs4 and only complains without it; fscache is netfs itself since 6.8.
OPTIONAL_MODULES=(fscache autofs4)

# The Debian mirror the new kernel comes from, with apt's own checks.
MIRROR="${JAIL_VM_MIRROR:-http://deb.debian.org/debian}"

say() { printf 'guest.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
unavailable() { say "$*"; exit 3; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n --preserve-env=DEBIAN_FRONTEND "$@"
	else
		return 1
	fi
}

ensure_packages() {
	local missing=() p
	for p in "${HOST_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
		as_root apt-get update -qq >&2 || unavailable "apt-get update failed (not root and no sudo?)"
		as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
			unavailable "cannot install ${missing[*]}"
	fi
}

wanted_modules() { echo "${MODULES[*]} ${OPTIONAL_MODULES[*]}"; }

# apt_opts SUITE prints apt's options for SUITE, one a line: none for stock
# (the host's sources), bookworm-backports alone for new, whose list apt
# keeps beside the host's without adding it to them.
apt_opts() {
	[ "$1" = new ] || return 0
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm-backports main\n' "$MIRROR" >"$CACHE/backports.list"
	printf '%s\n' -o "Dir::Etc::sourcelist=$CACHE/backports.list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
}

kernel_package() {
	local opts
	mapfile -t opts < <(apt_opts "$1")
	# Nothing before the suite's list is fetched.
	{ apt-cache "${opts[@]}" depends linux-image-amd64 2>/dev/null || true; } | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

# ensure_kernel SUITE sets KVER and KDIR to an extracted kernel of SUITE
# (stock or new) plus the modules the initramfs loads. An older cached
# kernel of the suite is kept when a newer one cannot be downloaded, so a
# machine without network still boots its guests.
ensure_kernel() {
	local suite="$1" pkg opts
	mapfile -t opts < <(apt_opts "$suite")
	pkg="$(kernel_package "$suite")"
	if [ -z "$pkg" ]; then
		as_root apt-get "${opts[@]}" update -qq >&2 || true
		pkg="$(kernel_package "$suite")"
	fi
	# A changed module list needs the package again.
	if [ -n "$pkg" ] && [ -s "$CACHE/kernel/${pkg#linux-image-}/vmlinuz" ] &&
		[ "$(cat "$CACHE/kernel/${pkg#linux-image-}/modules.want" 2>/dev/null)" = "$(wanted_modules)" ]; then
		KVER="${pkg#linux-image-}"
		KDIR="$CACHE/kernel/$KVER"
		return 0
	fi
	if [ -n "$pkg" ] && fetch_kernel "$suite" "$pkg"; then
		echo "$suite" >"$KDIR/suite"
		return 0
	fi
	local old
	old="$(grep -lx "$suite" "$CACHE"/kernel/*/suite 2>/dev/null | sort -V | tail -1)"
	[ -n "$old" ] || unavailable "cannot download a Debian kernel of $suite (${pkg:-linux-image-amd64 has no candidate})"
	KDIR="$(dirname "$old")"
	KVER="$(basename "$KDIR")"
	say "using the cached kernel $KVER"
}

fetch_kernel() {
	local suite="$1" pkg="$2" ver="${2#linux-image-}" tmp m line dst opts
	mapfile -t opts < <(apt_opts "$suite")
	tmp="$(mktemp -d "$CACHE/tmp.XXXXXX")"
	# apt-get download as root drops to _apt, which must be able to write here.
	chmod 0777 "$tmp"
	say "downloading $pkg"
	if ! (cd "$tmp" && apt-get "${opts[@]}" download -qq "$pkg" >&2) &&
		! { as_root apt-get "${opts[@]}" update -qq >&2 && (cd "$tmp" && apt-get "${opts[@]}" download -qq "$pkg" >&2); }; then
		rm -rf "$tmp"
		return 1
	fi
	dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/x"
	local moddir="$tmp/x/lib/modules/$ver"
	[ -d "$moddir" ] || moddir="$tmp/x/usr/lib/modules/$ver"
	[ -d "$moddir" ] || die "no modules for $ver in $pkg"
	[ -s "$tmp/x/boot/vmlinuz-$ver" ] || die "no vmlinuz-$ver in $pkg"
	# modprobe -d wants <dir>/lib/modules/<ver>.
	if [ "$moddir" != "$tmp/x/lib/modules/$ver" ]; then
		mkdir -p "$tmp/m/lib/modules"
		ln -s "$moddir" "$tmp/m/lib/modules/$ver"
		moddir="$tmp/m/lib/modules/$ver"
	fi
	local root="${moddir%/lib/modules/*}"
	depmod -b "$root" "$ver"
	mkdir -p "$tmp/out/modules"
	: >"$tmp/out/modules/order"
	local avail=("${MODULES[@]}")
	for m in "${OPTIONAL_MODULES[@]}"; do
		modprobe -d "$root" -S "$ver" --show-depends "$m" >/dev/null 2>&1 && avail+=("$m")
	done
	for m in "${avail[@]}"; do
		# Lines are "insmod PATH" in load order, or "builtin NAME".
		while read -r line; do
			case "$line" in
			insmod\ *)
				line="${line#insmod }"
				line="${line%% *}"
				dst="$(basename "$line")"
				case "$dst" in
				*.ko.xz) dst="${dst%.xz}"; xz -dc "$line" >"$tmp/out/modules/$dst" ;;
				*.ko.zst) dst="${dst%.zst}"; zstd -qdc "$line" >"$tmp/out/modules/$dst" ;;
				*.ko.gz) dst="${dst%.gz}"; gzip -dc "$line" >"$tmp/out/modules/$dst" ;;
				*.ko) cp "$line" "$tmp/out/modules/$dst" ;;
				*) die "unexpected module file $line" ;;
				esac
				grep -qxF "$dst" "$tmp/out/modules/order" || echo "$dst" >>"$tmp/out/modules/order"
				;;
			builtin\ *) ;;
			*) die "modprobe --show-depends $m: unexpected line: $line" ;;
			esac
		done < <(modprobe -d "$root" -S "$ver" --show-depends "$m" 2>/dev/null || die "module $m not found in $pkg")
	done
	cp "$tmp/x/boot/vmlinuz-$ver" "$tmp/out/vmlinuz"
	wanted_modules >"$tmp/out/modules.want"
	mkdir -p "$CACHE/kernel"
	rm -rf "$CACHE/kernel/$ver"
	mv "$tmp/out" "$CACHE/kernel/$ver"
	rm -rf "$tmp"
	KVER="$ver"
	KDIR="$CACHE/kernel/$ver"
	say "kernel $ver: modules $(tr '\n' ' ' <"$KDIR/modules/order")"
}

# ensure_initrd rebuilds KVER's initramfs, INITRD, when this script or the
# kernel changed; the guest's scripts are embedded below.
ensure_initrd() {
	local busybox stamp
	busybox="$(command -v busybox)" || die "no busybox"
	# The initramfs has no libraries.
	case "$(LC_ALL=C ldd "$busybox" 2>&1 || true)" in
	*"not a dynamic executable"*) ;;
	*) die "$busybox is not static (install busybox-static)" ;;
	esac
	stamp="$({ cat "${BASH_SOURCE[0]}"; echo "$KVER"; sha256sum "$busybox"; } | sha256sum | cut -d' ' -f1)"
	INITRD="$CACHE/initrd-$KVER.img"
	if [ -s "$INITRD" ] && [ "$(cat "$INITRD.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	say "building the initramfs"
	local tmp
	tmp="$(mktemp -d "$CACHE/tmp.XXXXXX")"
	local r="$tmp/root"
	mkdir -p "$r"/{bin,proc,sys,dev,newroot,vm,lib/modules}
	cp "$busybox" "$r/bin/busybox"
	local a
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
	done
	cp "$KDIR"/modules/* "$r/lib/modules/"
	write_init >"$r/init"
	write_stage2_cgroup2 >"$r/vm/stage2-cgroup2"
	write_run_payload >"$r/vm/run-payload"
	write_unit >"$r/vm/jail-vmtest.service"
	chmod 0755 "$r/init" "$r/vm/stage2-cgroup2" "$r/vm/run-payload"
	(cd "$r" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$tmp/initrd.img"
	mv "$tmp/initrd.img" "$INITRD"
	echo "$stamp" >"$INITRD.stamp"
	rm -rf "$tmp"
}

# Stage 1, busybox sh as PID 1 in the initramfs: load modules, assemble the
# guest root on a tmpfs, and switch_root into stage 2 (cgroup2) or systemd.
write_init() {
	cat <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {
	echo "jail-vm: stage 1: $*"
	echo o >/proc/sysrq-trigger
	sleep 60
}
while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m"
done </lib/modules/order

mode=
for w in $(cat /proc/cmdline); do
	case "$w" in jail.mode=*) mode="${w#jail.mode=}" ;; esac
done

R=/newroot
P9="trans=virtio,version=9p2000.L,msize=512000"
mount -t tmpfs -o mode=0755 root $R || fail "tmpfs root"
mkdir -p $R/usr $R/etc $R/work $R/proc $R/sys $R/dev $R/run $R/root $R/mnt \
	$R/home/jailvm $R/var/lib/systemd/linger $R/var/log $R/.vm/etc-lower $R/.vm/etc-upper $R/.vm/etc-work
mkdir -m 1777 $R/tmp $R/var/tmp
chown 1000:1000 $R/home/jailvm
mount -t 9p -o "$P9,ro,cache=loose" usr $R/usr || fail "9p usr"
mount -t 9p -o "$P9,ro,cache=loose" etc $R/.vm/etc-lower || fail "9p etc"
mount -t overlay overlay -o "lowerdir=$R/.vm/etc-lower,upperdir=$R/.vm/etc-upper,workdir=$R/.vm/etc-work" $R/etc ||
	fail "overlay etc"
# cache=none: what the guest writes reaches the host before poweroff.
mount -t 9p -o "$P9,rw" work $R/work || fail "9p work"
for d in bin sbin lib lib64 lib32 libx32; do
	[ -e $R/usr/$d ] && ln -s usr/$d $R/$d
done
cp -a /vm/. $R/.vm/

# The test user jailvm is uid 1000, so the host's uid 1000 (if any) goes.
# shadow is generated: the host's may be unreadable to a non-root qemu, and
# pam_unix (runuser) reads it.
awk -F: '$1 != "jailvm" && $3 != 1000' $R/.vm/etc-lower/passwd >/passwd
echo 'jailvm:x:1000:1000:jail vm test:/home/jailvm:/bin/sh' >>/passwd
awk -F: '$1 != "jailvm" && $3 != 1000' $R/.vm/etc-lower/group >/group
echo 'jailvm:x:1000:' >>/group
awk -F: '{print $1 ":*:19000:0:99999:7:::"}' /passwd >/shadow
awk -F: '{print $1 ":*::"}' /group >/gshadow
echo "# jail vm guest: nothing to mount" >/fstab
echo jail-vm >/hostname
# Removed first, so overlayfs creates them anew instead of copying up (and
# so reading) the host's versions.
for f in passwd group shadow gshadow fstab hostname; do
	rm -f $R/etc/$f
	cat /$f >$R/etc/$f
done
chmod 0640 $R/etc/shadow $R/etc/gshadow
sg=$(awk -F: '$1 == "shadow" {print $3}' /group)
[ -n "$sg" ] && chown 0:"$sg" $R/etc/shadow $R/etc/gshadow

case "$mode" in
cgroup2)
	init="/bin/sh /.vm/stage2-cgroup2"
	;;
systemd)
	# Only what this test enables: the host's own enabled units (its
	# databases, timers, gettys) would slow the boot and fail in here.
	rm -rf $R/etc/systemd/system
	mkdir -p $R/etc/systemd/system/multi-user.target.wants
	cp /vm/jail-vmtest.service $R/etc/systemd/system/
	ln -s ../jail-vmtest.service $R/etc/systemd/system/multi-user.target.wants/
	# The console carries the test's output, not a login prompt.
	ln -s /dev/null $R/etc/systemd/system/serial-getty@ttyS0.service
	ln -s /dev/null $R/etc/systemd/system/getty@tty1.service
	touch $R/var/lib/systemd/linger/jailvm
	init="/lib/systemd/systemd --unit=multi-user.target"
	;;
*)
	fail "unknown jail.mode=$mode"
	;;
esac

mount --move /dev $R/dev
mount --move /sys $R/sys
mount --move /proc $R/proc
exec switch_root $R $init
EOF
}

# Stage 2 of the cgroup2 guest, the host's /bin/sh as PID 1: a pure cgroup
# v2 machine with a subtree delegated to the test user the way the kernel
# documents it (Documentation/admin-guide/cgroup-v2.rst, "Delegation"):
# the directory and its cgroup.procs, cgroup.threads and
# cgroup.subtree_control belong to the delegatee.
write_stage2_cgroup2() {
	cat <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
fail() {
	echo "jail-vm: stage 2: $*"
	echo o >/proc/sysrq-trigger
	sleep 60
}
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
hostname jail-vm
C=/sys/fs/cgroup
want=
for c in cpuset cpu memory pids; do
	grep -qw "$c" $C/cgroup.controllers && want="$want +$c"
done
echo "$want" >$C/cgroup.subtree_control || fail "enabling$want"
D=$C/jail-delegated
mkdir $D || fail "mkdir $D"
chown 1000:1000 $D $D/cgroup.procs $D/cgroup.threads $D/cgroup.subtree_control || fail "chown $D"
# As if the test user had made it: a cgroup's files belong to its creator.
mkdir $D/shell || fail "mkdir $D/shell"
chown -R 1000:1000 $D/shell
exec /.vm/run-payload cgroup2
EOF
}

# run-payload runs /work/payload.sh as the test user, stores what it did in
# /work, echoes it to the console and powers the guest off.
write_run_payload() {
	cat <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mode="$1"
W=/work
tmo=150
nonce=none
for w in $(cat /proc/cmdline); do
	case "$w" in
	jail.timeout=*) tmo="${w#jail.timeout=}" ;;
	jail.nonce=*) nonce="${w#jail.nonce=}" ;;
	esac
done
up() { cut -d' ' -f1 /proc/uptime; }
off() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 60
}
env="HOME=/home/jailvm USER=jailvm LOGNAME=jailvm SHELL=/bin/sh PATH=/usr/local/bin:/usr/bin:/bin JAIL=$W/jail JAIL_VM_MODE=$mode"
case "$mode" in
cgroup2)
	# Only the user's processes may live in the delegated subtree: a root
	# process there (PID 1, timeout) would make the user's own writes to
	# cgroup.subtree_control fail, since enabling cpuset migrates every
	# task below, and that needs permission to reschedule each.
	set -- sh -c 'echo $$ >/sys/fs/cgroup/jail-delegated/shell/cgroup.procs && exec "$@"' sh \
		setpriv --reuid=1000 --regid=1000 --clear-groups
	;;
systemd)
	# Linger has logind start user@1000.service during boot; the payload
	# needs that manager and its session bus.
	i=0
	until systemctl is-active --quiet user@1000.service && [ -S /run/user/1000/bus ]; do
		i=$((i + 1))
		if [ $i -gt 240 ]; then
			echo "jail-vm: user@1000.service or /run/user/1000/bus did not come up"
			systemctl status --no-pager user@1000.service 2>&1 | head -20
			break
		fi
		sleep 0.5
	done
	env="$env XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"
	set -- runuser -u jailvm --
	;;
esac
echo "payload_start $(up)" >$W/guest-times
# shellcheck disable=SC2086 # env is a list of words
"$@" timeout -k 5 "$tmo" env -i $env /bin/sh -c 'cd /work && exec ./payload.sh' >$W/stdout 2>$W/stderr </dev/null
rc=$?
echo "$rc" >$W/exit-code
echo "payload_end $(up)" >>$W/guest-times
if [ "$mode" = cgroup2 ]; then
	# jail run by root on a pure cgroup v2 host: its own subtree at
	# /sys/fs/cgroup/jail, outside the user's delegated one.
	env -i $env $W/jail run --json --mem 64M -- python3 -c 'b = [bytearray(1 << 20) for i in range(200)]' >$W/root-stdout 2>&1
	ls -d /sys/fs/cgroup/jail/jail-[0-9]* >>$W/root-stdout 2>/dev/null
fi
echo "==== jail-vmtest $nonce stdout"
cat $W/stdout
echo "==== jail-vmtest $nonce stderr"
cat $W/stderr
echo "==== jail-vmtest $nonce exit $rc"
off
EOF
}

write_unit() {
	cat <<'EOF'
[Unit]
Description=jail vmtest payload
After=systemd-logind.service systemd-user-sessions.service user@1000.service

[Service]
Type=oneshot
ExecStart=/bin/sh /.vm/run-payload systemd
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
EOF
}

cmd_build() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	ensure_packages
	: >"$CACHE/guest.env.tmp"
	local suite
	for suite in stock new; do
		ensure_kernel "$suite"
		ensure_initrd
		printf 'KVER_%s=%s\nKERNEL_%s=%s\nINITRD_%s=%s\n' "$suite" "$KVER" "$suite" "$KDIR/vmlinuz" "$suite" "$INITRD" >>"$CACHE/guest.env.tmp"
	done
	mv "$CACHE/guest.env.tmp" "$CACHE/guest.env"
	cat "$CACHE/guest.env"
}

# suite_of is the kernel MODE's guest boots (see the top).
suite_of() {
	case "$1" in
	cgroup2) echo new ;;
	systemd) echo stock ;;
	esac
}

cmd_run() {
	local mode="${1:-}" work="${2:-}"
	case "$mode" in cgroup2 | systemd) ;; *) die "usage: guest.sh run cgroup2|systemd WORKDIR" ;; esac
	[ -d "$work" ] || die "no work directory $work"
	[ -s "$CACHE/guest.env" ] || die "no guest in $CACHE; run guest.sh build first"
	local KERNEL INITRD suite
	suite="$(suite_of "$mode")"
	KERNEL="$(sed -n "s/^KERNEL_$suite=//p" "$CACHE/guest.env")"
	INITRD="$(sed -n "s/^INITRD_$suite=//p" "$CACHE/guest.env")"
	[ -n "$KERNEL" ] && [ -n "$INITRD" ] || die "no $suite kernel in $CACHE/guest.env; run guest.sh build first"
	work="$(cd "$work" && pwd)"
	# A comma would end qemu's path= option.
	case "$work" in *,*) die "work directory path must not contain a comma: $work" ;; esac
	local share="security_model=none"
	# -nic none: the guest needs no network (qemu would add one by default).
	exec timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 \
		-nographic -no-reboot -nic none \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=ttyS0 quiet panic=-1 jail.mode=$mode jail.timeout=$PAYLOAD_TIMEOUT jail.nonce=$$ ${JAIL_VM_APPEND:-}" \
		-virtfs "local,path=/usr,mount_tag=usr,$share,readonly=on" \
		-virtfs "local,path=/etc,mount_tag=etc,$share,readonly=on" \
		-virtfs "local,path=$work,mount_tag=work,$share" \
		</dev/null
}

case "${1:-}" in
build) cmd_build ;;
run) shift; cmd_run "$@" ;;
*) die "usage: guest.sh build | guest.sh run cgroup2|systemd WORKDIR" ;;
esac

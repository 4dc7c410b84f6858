#!/usr/bin/env bash
# kernels.sh: fetch the kernels the VM tests boot, from Debian's own archive, into a cache directory.
# Idempotent: a kernel already extracted is not fetched again. Needs root (dpkg --add-architecture,
# apt-get update) only the first time arm64 packages are requested.
#
# Layout (KERNEL_CACHE, default .cache/kernels):
#   arm64-6.12/vmlinuz      linux-image-6.12.*+deb12-cloud-arm64   (Debian 12 backports-style 6.12 LTS)
#   amd64-6.1/vmlinuz       linux-image-6.1.0-*-cloud-amd64        (no mm_cid/node_id, no rseq auxv)
#   amd64-6.1-rt/vmlinuz    linux-image-6.1.0-*-rt-amd64           (PREEMPT_RT)
#   */VERSION               the package that was extracted
#
# Usage: kernels.sh [arm64-6.12] [amd64-6.1] [amd64-6.1-rt]   (no arguments: all three)
set -euo pipefail
cache=${KERNEL_CACHE:-.cache/kernels}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

latest() { # latest() REGEX: newest package name matching REGEX
	apt-cache search --names-only "$1" | awk '{print $1}' | grep -E "$1" | sort -V | tail -n 1
}

fetch() { # fetch NAME REGEX ARCH
	local name=$1 regex=$2 arch=$3 dir="$cache/$1"
	if [ -s "$dir/vmlinuz" ]; then
		echo "kernels: $name: have $(cat "$dir/VERSION" 2>/dev/null)"
		return
	fi
	if [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		echo "kernels: adding dpkg architecture $arch"
		dpkg --add-architecture "$arch"
		apt-get update -qq
	fi
	local pkg
	pkg=$(latest "$regex")
	if [ -z "$pkg" ]; then
		apt-get update -qq
		pkg=$(latest "$regex")
	fi
	[ -n "$pkg" ] || { echo "kernels: no package matches $regex" >&2; exit 1; }
	echo "kernels: $name: downloading $pkg:$arch"
	local tmp
	tmp=$(mktemp -d)
	# As root, apt-get downloads as the unprivileged user _apt (its sandbox),
	# which must be able to write the directory; otherwise it warns
	# "Download is performed unsandboxed as root" and downloads as root.
	if [ "$(id -u)" = 0 ] && id -u _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	(cd "$tmp" && apt-get download -qq "$pkg:$arch" && dpkg -x ./*.deb root)
	mkdir -p "$dir"
	cp "$(ls "$tmp"/root/boot/vmlinuz-* | head -n 1)" "$dir/vmlinuz.tmp"
	mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
	echo "$pkg" >"$dir/VERSION"
	rm -rf "$tmp"
	echo "kernels: $name: $dir/vmlinuz"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(arm64-6.12 amd64-6.1 amd64-6.1-rt)
for k in "${want[@]}"; do
	case $k in
	arm64-6.12) fetch arm64-6.12 '^linux-image-6\.12\.[0-9]+\+deb12-cloud-arm64$' arm64 ;;
	amd64-6.1) fetch amd64-6.1 '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' amd64 ;;
	amd64-6.1-rt) fetch amd64-6.1-rt '^linux-image-6\.1\.0-[0-9]+-rt-amd64$' amd64 ;;
	*) echo "kernels: unknown kernel $k" >&2; exit 2 ;;
	esac
done

#!/usr/bin/env bash
# kernels.sh: fetch the kernels the VM tests boot, from Debian's own archive, into a cache directory.
# Idempotent: a kernel already extracted is not fetched again. Needs root (dpkg --add-architecture,
# apt-get update) only the first time arm64 packages of Debian 12 are requested.
#
# Layout (KERNEL_CACHE, default .cache/kernels):
#   arm64-6.12/vmlinuz      linux-image-6.12.*+deb12-cloud-arm64   (Debian 12 backports-style 6.12 LTS)
#   amd64-6.1/vmlinuz       linux-image-6.1.0-*-cloud-amd64        (no mm_cid/node_id, no rseq auxv)
#   amd64-6.1-rt/vmlinuz    linux-image-6.1.0-*-rt-amd64           (PREEMPT_RT)
#   amd64-7.2/vmlinuz       linux-binary-7.2.*+deb14-cloud-amd64   (Debian sid: after the 6.19 rseq rework)
#   arm64-7.2/vmlinuz       linux-binary-7.2.*+deb14-cloud-arm64   (Debian sid)
#   */VERSION               the package that was extracted
#
# The 7.2 kernels come from Debian sid through an apt state of this script's own (sources list,
# package lists and downloads under KERNEL_CACHE/.apt-sid): the machine's apt setup is not touched.
# The version is pinned by pattern (any 7.2.x); when sid has moved on to another series the
# script says so and lists what sid has.
#
# Usage: kernels.sh [NAME...]   (no arguments: all of them)
set -euo pipefail
cache=${KERNEL_CACHE:-.cache/kernels}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# apt options: none for the machine's own archive (Debian 12); for sid, a private state.
apt_machine=()
sid="$cache/.apt-sid"
apt_sid=(-o "Dir::Etc::sourcelist=$sid/sources.list" -o "Dir::Etc::sourceparts=$sid/none"
	-o "Dir::State::Lists=$sid/lists" -o "Dir::Cache=$sid/cache"
	-o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64")

sid_update() { # the private state's sources list names the machine's own archive, suite sid
	mkdir -p "$sid/lists/partial" "$sid/cache/archives/partial" "$sid/none"
	local uri
	uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		grep -oE 'https?://[^ ]+' | grep -vE 'security|updates|backports' | grep -E '/debian/?$' | head -n 1 || true)
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${uri:-http://deb.debian.org/debian} sid main" >"$sid/sources.list"
	if [ "$(id -u)" = 0 ] && id -u _apt >/dev/null 2>&1; then
		chown -R _apt "$sid/lists" "$sid/cache"
	fi
	apt-get "${apt_sid[@]}" update -qq
}

latest() { # latest APTOPTS-ARRAY-NAME REGEX: newest package name matching REGEX
	local -n opts=$1
	apt-cache "${opts[@]}" search --names-only "$2" | awk '{print $1}' | grep -E "$2" | sort -V | tail -n 1
}

fetch() { # fetch NAME REGEX ARCH [sid]
	local name=$1 regex=$2 arch=$3 suite=${4:-} dir="$cache/$1"
	if [ -s "$dir/vmlinuz" ]; then
		echo "kernels: $name: have $(cat "$dir/VERSION" 2>/dev/null)"
		return
	fi
	local optsname=apt_machine
	if [ "$suite" = sid ]; then
		optsname=apt_sid
		[ -s "$sid/sources.list" ] || sid_update
	elif [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		echo "kernels: adding dpkg architecture $arch"
		dpkg --add-architecture "$arch"
		apt-get update -qq
	fi
	local -n opts=$optsname
	local pkg
	pkg=$(latest "$optsname" "$regex")
	if [ -z "$pkg" ]; then
		if [ "$suite" = sid ]; then sid_update; else apt-get update -qq; fi
		pkg=$(latest "$optsname" "$regex")
	fi
	if [ -z "$pkg" ]; then
		echo "kernels: $name: no package matches $regex${suite:+ in Debian $suite}: the archive has moved on." >&2
		echo "kernels: it has: $(apt-cache "${opts[@]}" search --names-only "^linux-(image|binary)-[0-9.]+.*-cloud-$arch\$" | awk '{print $1}' | sort -V | tr '\n' ' ')" >&2
		echo "kernels: update the pattern for $name in internal/vmtest/kernels.sh (and the README's kernel table)." >&2
		exit 1
	fi
	echo "kernels: $name: downloading $pkg:$arch"
	local tmp
	tmp=$(mktemp -d)
	# As root, apt-get downloads as the unprivileged user _apt (its sandbox),
	# which must be able to write the directory; otherwise it warns
	# "Download is performed unsandboxed as root" and downloads as root.
	if [ "$(id -u)" = 0 ] && id -u _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	(cd "$tmp" && apt-get "${opts[@]}" download -qq "$pkg:$arch" && dpkg -x ./*.deb root)
	mkdir -p "$dir"
	# Debian 12 puts the image in /boot; sid's linux-binary packages under /usr/lib/modules/*/.
	local img
	img=$(ls "$tmp"/root/boot/vmlinuz-* "$tmp"/root/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n 1 || true)
	[ -n "$img" ] || { echo "kernels: $name: no vmlinuz in $pkg" >&2; exit 1; }
	cp "$img" "$dir/vmlinuz.tmp"
	mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
	echo "$pkg" >"$dir/VERSION"
	rm -rf "$tmp"
	echo "kernels: $name: $dir/vmlinuz"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(arm64-6.12 amd64-6.1 amd64-6.1-rt amd64-7.2 arm64-7.2)
for k in "${want[@]}"; do
	case $k in
	arm64-6.12) fetch arm64-6.12 '^linux-image-6\.12\.[0-9]+\+deb12-cloud-arm64$' arm64 ;;
	amd64-6.1) fetch amd64-6.1 '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' amd64 ;;
	amd64-6.1-rt) fetch amd64-6.1-rt '^linux-image-6\.1\.0-[0-9]+-rt-amd64$' amd64 ;;
	amd64-7.2) fetch amd64-7.2 '^linux-binary-7\.2\.[0-9]+\+deb[0-9]+-cloud-amd64$' amd64 sid ;;
	arm64-7.2) fetch arm64-7.2 '^linux-binary-7\.2\.[0-9]+\+deb[0-9]+-cloud-arm64$' arm64 sid ;;
	*) echo "kernels: unknown kernel $k" >&2; exit 2 ;;
	esac
done

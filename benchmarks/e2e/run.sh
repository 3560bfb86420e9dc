#!/usr/bin/env bash
# End-to-end peer runner: this appliance (`standalone` on 127.0.0.1 + the client's `sync --once`, as in the
# README) against restic, borg, syncthing (two instances on 127.0.0.1), rclone, rsync, cp and
# `dd conv=fdatasync`, on data generated from a fixed seed, five scenarios, every result checked byte for byte.
# Prints a Markdown table, the machine and the command. Asserts no target; exits 1 if any result was wrong.
#
#   benchmarks/e2e/run.sh                                  # full size: 1 GiB, 10,000 files, 20 changes
#   benchmarks/e2e/run.sh --big-mib 64 --files 1000 --changes 5        # a quick check
#   benchmarks/e2e/run.sh --help                           # every option (--seed, --tools, --timeout, --out, --keep)
#
# This script installs missing peers from Debian's packages (and clang, which links the native client), builds the
# appliance and the client Release, publishes the client natively compiled (as the README does), then runs peers.py (Python 3 standard library only), which does the measuring.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
case " $* " in *" --help "* | *" -h "*) exec python3 "$root/benchmarks/e2e/peers.py" --help ;; esac

need=()
for pkg in restic:restic borg:borgbackup syncthing:syncthing rclone:rclone rsync:rsync python3:python3 lsblk:util-linux /usr/bin/time:time clang:clang; do
  command -v "${pkg%%:*}" >/dev/null || need+=("${pkg#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}..." >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 900 apt-get update -qq && timeout 900 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "building the appliance and the client (Release)..." >&2
timeout 1200 dotnet build -c Release "$root/src/Appliance" -v q -nologo >/dev/null
timeout 1200 dotnet build -c Release "$root/src/SyncClient" -v q -nologo >/dev/null
# The client as the README publishes it for use: natively compiled (peers.py --client dll measures the dll instead).
case " $* " in *" --client dll "* | *" --client=dll "*) ;; *)
  echo "publishing the natively compiled client..." >&2
  timeout 1200 dotnet publish -c Release "$root/src/SyncClient" -p:PublishAot=true -o "$root/src/SyncClient/bin/native" -v q -nologo >/dev/null ;;
esac

exec python3 "$root/benchmarks/e2e/peers.py" --root="$root" "$@"

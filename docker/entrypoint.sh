#!/bin/sh
# Entrypoint of both images: entrypoint.sh APP [ARGS...] runs the node APP (Dropbox.MetadataNode or
# Dropbox.StorageNode; a trailing ".dll" is accepted too) from $APP_DIR (default /app) with ARGS, after checking what
# the command needs. The images hold a self-contained publish (docker/build.sh): the folder has the .NET runtime
# (libcoreclr.so) and the app's own executable, which runs with no .NET installed. A framework-dependent build folder
# (no runtime in it, as `dotnet build` makes) runs as `dotnet APP.dll`.
# A storage node server and `tls init` need PUBLIC_HOST (the name or address clients use to reach this machine: it
# goes into the advertised URLs and the certificate); without it they would hand clients 127.0.0.1 or a certificate
# for the wrong name, so they stop here with a clear message instead.
set -eu

if [ "$#" -lt 1 ]; then
  echo "usage: entrypoint.sh Dropbox.MetadataNode|Dropbox.StorageNode [ARGS...]" >&2
  exit 64
fi

app="${1%.dll}"
shift
app_dir="${APP_DIR:-/app}"

needs_public_host=no
case "$app:${1:-}:${2:-}" in
  Dropbox.StorageNode:*) needs_public_host=yes ;;
  Dropbox.MetadataNode:tls:init) needs_public_host=yes ;;
esac

if [ "$needs_public_host" = yes ] && [ -z "${PUBLIC_HOST:-}" ]; then
  echo "error: PUBLIC_HOST is not set. Set it to the DNS name or IP address that clients use to reach this machine" >&2
  echo "       (it goes into the TLS certificate and the storage nodes' advertised URLs), e.g." >&2
  echo "       PUBLIC_HOST=files.example.lan docker compose -f docker/compose.yaml up -d" >&2
  exit 64
fi

# The collector's first-generation budget: 16 MiB unless the operator sets DOTNET_GCgen0size. The workstation
# concurrent collector caps it near 6 MiB on any machine, and a node's per-file work (requests parsed, records written)
# then collects every few hundred files; measured on the appliance (README, Performance): 10,000 small files' upload
# took 10% less of its CPU. The runtime reads this knob from the environment only (no runtimeconfig name).
DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x1000000}"
export DOTNET_GCgen0size

if [ -e "$app_dir/libcoreclr.so" ] && [ -x "$app_dir/$app" ]; then
  exec "$app_dir/$app" "$@"
fi

if [ ! -e "$app_dir/$app.dll" ]; then
  echo "error: $app_dir holds neither a self-contained $app (run docker/build.sh) nor $app.dll" >&2
  exit 70
fi

exec dotnet "$app_dir/$app.dll" "$@"

#!/bin/sh
# Entrypoint of both images: entrypoint.sh DLL [ARGS...] runs `dotnet $APP_DIR/DLL ARGS...` as the image's non-root user,
# after checking what the command needs. A storage node server and `tls init` need PUBLIC_HOST (the name or address
# clients use to reach this machine: it goes into the advertised URLs and the certificate); without it they would
# hand clients 127.0.0.1 or a certificate for the wrong name, so they stop here with a clear message instead.
set -eu

if [ "$#" -lt 1 ]; then
  echo "usage: entrypoint.sh Dropbox.MetadataNode.dll|Dropbox.StorageNode.dll [ARGS...]" >&2
  exit 64
fi

dll="$1"
shift
app_dir="${APP_DIR:-/app}"

needs_public_host=no
case "$dll:${1:-}:${2:-}" in
  Dropbox.StorageNode.dll:*) needs_public_host=yes ;;
  Dropbox.MetadataNode.dll:tls:init) needs_public_host=yes ;;
esac

if [ "$needs_public_host" = yes ] && [ -z "${PUBLIC_HOST:-}" ]; then
  echo "error: PUBLIC_HOST is not set. Set it to the DNS name or IP address that clients use to reach this machine" >&2
  echo "       (it goes into the TLS certificate and the storage nodes' advertised URLs), e.g." >&2
  echo "       PUBLIC_HOST=files.example.lan docker compose -f docker/compose.yaml up -d" >&2
  exit 64
fi

exec dotnet "$app_dir/$dll" "$@"

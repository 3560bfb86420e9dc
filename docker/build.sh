#!/bin/sh
# Builds the two images from source: publishes the metadata node and the storage node self-contained for Linux
# (the .NET runtime goes inside, so the images need no .NET base image: a plain Debian base does), into the folder
# the Dockerfiles copy from (docker/publish/metadata, docker/publish/storage), then builds the images
# dropbox-metadata and dropbox-storage, which docker/compose.yaml runs.
#
#   docker/build.sh [--base IMAGE] [--publish-only] [--output DIR] [--work DIR]
#
#   --base IMAGE     base image of both images (default: the Dockerfiles' debian:bookworm-slim; another Debian-like
#                    image with apt works too)
#   --publish-only   publish only, build no image (no Docker needed)
#   --output DIR     where the published apps go (default docker/publish; the images copy only from there); an
#                    existing DIR/metadata or DIR/storage is replaced only if build.sh published it (it holds
#                    .dropbox-publish), else build.sh refuses and changes nothing
#   --work DIR       intermediate build files (default docker/.build), kept apart from the source tree's obj/ folders
#
# Needs the .NET SDK that building the repository needs (global.json). Run from anywhere.
set -eu

repo="$(cd "$(dirname "$0")/.." && pwd -P)"
out="$repo/docker/publish"
work="$repo/docker/.build"
publish_only=no
base=

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --publish-only) publish_only=yes ;;
    --output|--work|--base)
      if [ "$#" -lt 2 ] || [ -z "$2" ]; then
        echo "error: $1 needs a value" >&2
        exit 64
      fi
      case "$1" in
        --output) out="$2" ;;
        --work) work="$2" ;;
        --base) base="$2" ;;
      esac
      shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2; usage; exit 64 ;;
  esac
  shift
done

# Every check before anything is written or deleted.
if [ "$publish_only" = no ] && [ "$(realpath -m "$out")" != "$repo/docker/publish" ]; then
  echo "error: the images copy from docker/publish; build them without --output (or use --publish-only)" >&2
  exit 64
fi

# build.sh replaces only folders it published itself (they hold this marker file): --output naming a folder that
# holds something else (a node's data, say) must not lose it.
marker=.dropbox-publish
refuse_foreign() {
  if { [ -e "$1" ] || [ -L "$1" ]; } && [ ! -f "$1/$marker" ]; then
    echo "error: $1 exists and was not published by docker/build.sh (no $marker in it); not replacing it: move it away or choose another --output" >&2
    exit 73
  fi
}
for name in metadata storage; do
  refuse_foreign "$out/$name"
done

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64|arm64) rid=linux-arm64 ;;
  *) echo "error: no .NET runtime identifier for machine type $(uname -m)" >&2; exit 69 ;;
esac

command -v dotnet >/dev/null 2>&1 || { echo "error: the .NET SDK (dotnet) is needed to publish the nodes" >&2; exit 69; }

mkdir -p "$out" "$work"
out="$(cd "$out" && pwd)"
work="$(cd "$work" && pwd)"

# Each app is published into a fresh folder under the work folder and moved into place only once complete.
staging=
trap '[ -z "$staging" ] || rm -rf "$staging"' EXIT
staging="$(mktemp -d "$work/staging.XXXXXX")"

# name:project. The folder names are the ones the Dockerfiles copy (docker/publish/NAME/).
for pair in metadata:MetadataNode storage:StorageNode; do
  name="${pair%%:*}"
  project="${pair#*:}"
  echo "build.sh: publishing Dropbox.$project ($rid, self-contained) to $out/$name"
  dotnet publish "$repo/src/$project/Dropbox.$project.csproj" -c Release -r "$rid" --self-contained true \
    --artifacts-path "$work" -o "$staging/$name" --nologo
  if [ ! -x "$staging/$name/Dropbox.$project" ] || [ ! -e "$staging/$name/libcoreclr.so" ]; then
    echo "error: dotnet publish made no self-contained Dropbox.$project executable in $staging/$name" >&2
    exit 70
  fi
  # Readable (and the executables runnable) by the images' uid 10001 whatever the umask; COPY keeps these modes.
  chmod -R a+rX,go-w "$staging/$name"
  : > "$staging/$name/$marker"
  chmod 0644 "$staging/$name/$marker"
  refuse_foreign "$out/$name"
  if [ -e "$out/$name" ] || [ -L "$out/$name" ]; then
    mv "$out/$name" "$staging/$name.old"
  fi
  mv "$staging/$name" "$out/$name"
done

if [ "$publish_only" = yes ]; then
  echo "build.sh: published to $out (no images built: --publish-only)"
  exit 0
fi

command -v docker >/dev/null 2>&1 || { echo "error: docker is needed to build the images (or use --publish-only)" >&2; exit 69; }

for name in metadata storage; do
  echo "build.sh: building image dropbox-$name"
  if [ -n "$base" ]; then
    docker build -f "$repo/docker/Dockerfile.$name" --build-arg "BASE=$base" -t "dropbox-$name" "$repo"
  else
    docker build -f "$repo/docker/Dockerfile.$name" -t "dropbox-$name" "$repo"
  fi
done
echo "build.sh: images dropbox-metadata and dropbox-storage built; next: PUBLIC_HOST=NAME docker compose -f docker/compose.yaml up -d"

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
#   --output DIR     where the published apps go (default docker/publish; the images copy only from there)
#   --work DIR       intermediate build files (default docker/.build), kept apart from the source tree's obj/ folders
#
# Needs the .NET SDK that building the repository needs (global.json). Run from anywhere.
set -eu

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$repo/docker/publish"
work="$repo/docker/.build"
publish_only=no
base=

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
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

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64|arm64) rid=linux-arm64 ;;
  *) echo "error: no .NET runtime identifier for machine type $(uname -m)" >&2; exit 69 ;;
esac

command -v dotnet >/dev/null 2>&1 || { echo "error: the .NET SDK (dotnet) is needed to publish the nodes" >&2; exit 69; }

mkdir -p "$out" "$work"
out="$(cd "$out" && pwd)"
work="$(cd "$work" && pwd)"

# name:project. The folder names are the ones the Dockerfiles copy (docker/publish/NAME/).
for pair in metadata:MetadataNode storage:StorageNode; do
  name="${pair%%:*}"
  project="${pair#*:}"
  echo "build.sh: publishing Dropbox.$project ($rid, self-contained) to $out/$name"
  rm -rf "$out/$name"
  dotnet publish "$repo/src/$project/Dropbox.$project.csproj" -c Release -r "$rid" --self-contained true \
    --artifacts-path "$work" -o "$out/$name" --nologo
  if [ ! -x "$out/$name/Dropbox.$project" ] || [ ! -e "$out/$name/libcoreclr.so" ]; then
    echo "error: $out/$name has no self-contained Dropbox.$project executable after publishing" >&2
    exit 70
  fi
done

if [ "$publish_only" = yes ]; then
  echo "build.sh: published to $out (no images built: --publish-only)"
  exit 0
fi

if [ "$out" != "$repo/docker/publish" ]; then
  echo "error: the images copy from docker/publish; build them without --output (or use --publish-only)" >&2
  exit 64
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

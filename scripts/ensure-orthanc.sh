#!/usr/bin/env bash
# The PACS tests run Debian's Orthanc with its DICOMweb plugin (never Docker). Install both with apt
# when either is missing; fail loudly when that is impossible. The tests start their own Orthanc on
# a loopback port with a temporary storage folder (tests/support/orthanc.py), never the service.
set -euo pipefail
PLUGIN_DIR=/usr/share/orthanc/plugins
have() {
  command -v Orthanc >/dev/null 2>&1 && ls "$PLUGIN_DIR"/libOrthancDicomWeb.so* >/dev/null 2>&1
}
if have; then exit 0; fi
if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "orthanc is missing and cannot be installed without root: apt-get install orthanc orthanc-dicomweb" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends orthanc orthanc-dicomweb >/dev/null
have || { echo "orthanc or its DICOMweb plugin did not install" >&2; exit 1; }

"""One real Orthanc (Debian's orthanc + orthanc-dicomweb) for the PACS tests, started once per
session on a loopback port with a temporary storage folder, holding real files from the test data:

- a CT study (accession `ACC-CT-1`): a 12-slice series built from pydicom's CT_small.dcm
  (SeriesNumber 1) and a one-slice "scout" series (SeriesNumber 2);
- a chest X-ray study (accession `ACC-CXR-1`): the template example chest_xray_pa.dcm.

Missing Orthanc fails, it does not skip: `make test` installs it with apt first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from medgemma_ui.pacs.settings import PacsSettings
from tests.support import orthanc
from tests.support.orthanc import USER, Orthanc
from tests.support.series import write_ct_series

REPO = Path(__file__).resolve().parents[2]
CHEST = REPO / "medgemma_ui" / "templates" / "data" / "examples" / "chest_xray_pa.dcm"
CT_ANSWER = json.dumps(
    {
        "body_region": "head",
        "contrast_enhanced": False,
        "findings": [{"location": "left frontal lobe", "description": "small hypodense focus"}],
        "incidental_findings": ["Mucosal thickening of the maxillary sinus."],
        "impression": "Small left frontal hypodensity; no haemorrhage.",
    }
)


@dataclass(frozen=True)
class PacsData:
    pacs: Orthanc
    ct_study: str
    ct_series: str
    ct_instances: tuple[str, ...]
    scout_series: str
    cxr_study: str
    cxr_series: str
    cxr_instance: str

    def settings(self, **changes: str) -> PacsSettings:
        env = {
            "MEDGEMMA_DICOMWEB_URL": self.pacs.dicomweb,
            "MEDGEMMA_DICOMWEB_USER": USER[0],
            "MEDGEMMA_DICOMWEB_PASSWORD": USER[1],
            "MEDGEMMA_DICOMWEB_TIMEOUT_S": "10",
            **changes,
        }
        return PacsSettings.from_env(env)


def _restamp(path: Path, **values: object) -> pydicom.Dataset:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return ds


@pytest.fixture(scope="session")
def pacs_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PacsData]:
    if not orthanc.available():
        pytest.fail("Orthanc or its DICOMweb plugin is missing: run scripts/ensure-orthanc.sh.")
    root = tmp_path_factory.mktemp("pacs")
    ct_study, scout_series = generate_uid(), generate_uid()
    files = write_ct_series(root / "ct", 12)
    instances = []
    for path in files:
        ds = _restamp(path, StudyInstanceUID=ct_study, AccessionNumber="ACC-CT-1", SeriesNumber=1)
        instances.append(str(ds.SOPInstanceUID))
    scout = root / "scout.dcm"
    scout.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    _restamp(
        scout,
        StudyInstanceUID=ct_study,
        SeriesInstanceUID=scout_series,
        SOPInstanceUID=generate_uid(),
        AccessionNumber="ACC-CT-1",
        SeriesNumber=2,
        SeriesDescription="Scout",
    )
    chest = root / "chest.dcm"
    chest.write_bytes(CHEST.read_bytes())
    cxr = _restamp(
        chest,
        StudyInstanceUID=generate_uid(),
        SeriesInstanceUID=generate_uid(),
        SOPInstanceUID=generate_uid(),
        AccessionNumber="ACC-CXR-1",
    )
    ct_series = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    with Orthanc(root / "orthanc") as pacs:
        pacs.upload([*files, scout, chest])
        yield PacsData(
            pacs=pacs,
            ct_study=ct_study,
            ct_series=ct_series,
            ct_instances=tuple(instances),
            scout_series=scout_series,
            cxr_study=str(cxr.StudyInstanceUID),
            cxr_series=str(cxr.SeriesInstanceUID),
            cxr_instance=str(cxr.SOPInstanceUID),
        )

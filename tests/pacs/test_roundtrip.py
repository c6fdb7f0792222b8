"""The PACS round trip end to end, in a real subprocess: `analyze --dicomweb` opens a CT series
from Orthanc, analyses it against a loopback model, writes the SR, FHIR and PDF, stores the SR
back (STOW-RS); the SR is read again over DICOMweb and checked with pydicom and highdicom, the
FHIR Bundle with fhir.resources, the PDF by its text."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import pydicom
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from tests.pacs.conftest import CT_ANSWER, REPO, PacsData
from tests.support.model_server import ModelServer, Script
from tests.support.orthanc import USER

SERVER_MODEL = "medgemma-1.5-4b-it-test"


def run_cli(args: list[str], pacs: PacsData, base_url: str, tmp: Path, **env: str):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEDGEMMA_")}
    environment.update(
        MEDGEMMA_OPENAI_BASE_URL=base_url,
        MEDGEMMA_OPENAI_MODEL="medgemma-cli",
        MEDGEMMA_DICOMWEB_USER=USER[0],
        MEDGEMMA_DICOMWEB_PASSWORD=USER[1],
        TMPDIR=str(tmp),
    )
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "medgemma_ui", "analyze", "--dicomweb", pacs.pacs.dicomweb, *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def dicomweb(pacs: PacsData) -> DICOMwebClient:
    return DICOMwebClient(
        pacs.pacs.dicomweb, session=create_session_from_user_pass(USER[0], USER[1])
    )


def test_series_from_orthanc_to_sr_fhir_pdf_and_back(pacs_data: PacsData, tmp_path: Path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    with ModelServer(Script(answers=[CT_ANSWER], model=SERVER_MODEL)) as model:
        proc = run_cli(
            [
                "--study", "ACC-CT-1", "--series", "1", "--backend", "openai",
                "--sr-out", str(out / "result.sr.dcm"),
                "--fhir-out", str(out / "result.fhir.json"),
                "--pdf-out", str(out / "result.pdf"),
                "--store-sr",
            ],
            pacs_data,
            model.base_url,
            scratch,
        )  # fmt: skip
        requests = list(model.requests)

    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(text) for text in proc.stdout.splitlines()]
    assert line["input"] == "dicomweb" and line["valid"] is True, line
    assert line["template"] == "ct-volume"
    assert line["series"] == {"modality": "CT", "images": 12}
    assert line["exports"] == {
        "sr": str(out / "result.sr.dcm"),
        "fhir": str(out / "result.fhir.json"),
        "pdf": str(out / "result.pdf"),
        "stored": 1,
    }
    # Nothing identifying in what was printed, logged or sent to the model; no file left behind.
    printed = proc.stdout + proc.stderr
    sent = json.dumps([r.body for r in requests])
    for uid in (pacs_data.ct_study, pacs_data.ct_series, *pacs_data.ct_instances):
        assert uid not in printed and uid not in sent
    assert "ACC-CT-1" not in sent
    assert list(scratch.iterdir()) == []
    (request,) = requests  # one request, 12 slices in order
    images = [c for c in request.body["messages"][0]["content"] if c["type"] == "image_url"]
    assert len(images) == 12
    slices = line["provenance"]["inputs"]
    assert [s["slice_index"] for s in slices] == list(range(12))

    # The SR, read back over DICOMweb from the source study.
    client = dicomweb(pacs_data)
    sr_series = [
        s for s in client.search_for_series(pacs_data.ct_study) if s["00080060"]["Value"] == ["SR"]
    ]
    assert len(sr_series) == 1
    series_uid = sr_series[0]["0020000E"]["Value"][0]
    (instance,) = client.search_for_instances(pacs_data.ct_study, series_uid)
    stored = client.retrieve_instance(
        pacs_data.ct_study, series_uid, instance["00080018"]["Value"][0]
    )
    local = pydicom.dcmread(out / "result.sr.dcm")
    assert stored.SOPInstanceUID == local.SOPInstanceUID
    buffer = io.BytesIO()
    stored.save_as(buffer)
    sr = hd.sr.srread(io.BytesIO(buffer.getvalue()))
    assert isinstance(sr, hd.sr.ComprehensiveSR)
    assert sr.StudyInstanceUID == pacs_data.ct_study
    assert sr.AccessionNumber == "ACC-CT-1"
    assert sr.VerificationFlag == "UNVERIFIED"
    evidence = {item[2] for item in sr.get_evidence()}  # (study, series, instance, class)
    assert evidence == set(pacs_data.ct_instances)
    report = hd.sr.MeasurementReport.from_sequence([sr])
    (observer,) = report.get_observer_contexts()
    assert observer.observer_identifying_attributes.model_name == SERVER_MODEL
    (group,) = report.get_image_measurement_groups()
    assert group.get_qualitative_evaluations() == []
    texts = {
        (item.ConceptNameCodeSequence[0].CodeValue, item.TextValue)
        for item in sr.ContentSequence[-1].ContentSequence
    }
    assert ("121073", "Small left frontal hypodensity; no haemorrhage.") in texts
    finding = "Findings: Location: Left frontal lobe; Description: Small hypodense focus"
    assert ("121071", finding) in texts
    assert any(code == "121106" and "not a medical device" in text for code, text in texts)
    parameters = [
        item.TextValue
        for item in sr.ContentSequence[-2].ContentSequence[0].ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "111002"
    ]
    provenance = json.loads(next(p for p in parameters if p.startswith("provenance="))[11:])
    assert provenance["image_sha256"] == line["provenance"]["image_sha256"]

    # FHIR: parses as R4(B); AI-asserted; linked to the study by its UID.
    bundle = Bundle.model_validate_json((out / "result.fhir.json").read_text())
    resources = [entry.resource for entry in bundle.entry]
    report_resource = resources[0]
    assert report_resource.__resource_type__ == "DiagnosticReport"
    assert report_resource.meta.security[0].code == "AIAST"
    assert report_resource.imagingStudy[0].identifier.value == f"urn:oid:{pacs_data.ct_study}"
    observations = [r for r in resources if r.__resource_type__ == "Observation"]
    assert len(observations) == 4  # body region, contrast, the finding, the incidental finding
    assert all(o.meta.security[0].code == "AIAST" for o in observations)

    # PDF: one page with the report, the provenance and the disclaimer.
    pdf = PdfReader(out / "result.pdf")
    assert len(pdf.pages) == 1
    text = " ".join(pdf.pages[0].extract_text().split())
    for expected in (
        "MedGemma CT volume (MedGemma 1.5) findings (AI, unverified)",
        "Small left frontal hypodensity; no haemorrhage.",
        "Research demo, not a medical device",
        SERVER_MODEL,
        line["provenance"]["prompt_sha256"],
    ):
        assert expected in text, expected

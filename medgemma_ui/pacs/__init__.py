"""The PACS: studies opened over DICOMweb (QIDO-RS, WADO-RS) and results stored back (STOW-RS).

`pacs.settings` (read at start by `medgemma_ui.settings`) imports nothing heavy; the client is
`pacs.dicomweb` (requests, dicomweb-client, pydicom), imported where it is used. No Gradio and no
analysis here: the UI handler and the CLI hand what is retrieved to the same preparation as an
upload, and `medgemma_ui.exports` builds what is stored back.
"""

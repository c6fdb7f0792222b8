"""medgemma_ui: a clinician web app in front of Google's MedGemma."""

__version__ = "0.1.0"

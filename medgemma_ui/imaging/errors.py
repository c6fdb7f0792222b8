"""The one exception the imaging package raises."""

from __future__ import annotations

OUT_OF_MEMORY = (
    "This image is too large to process in the memory available; upload a smaller export."
)


class ImageError(Exception):
    """An image that cannot be prepared. `str(error)` is one sentence a clinician can act on.

    `kind` is a short machine-readable category: not_image, no_pixels, decoder_missing, corrupt,
    too_large, unsupported, bad_request.
    """

    def __init__(self, message: str, *, kind: str = "unsupported") -> None:
        super().__init__(message)
        self.kind = kind

    @classmethod
    def out_of_memory(cls) -> ImageError:
        """A decoder ran out of memory (the worker's address-space limit, or the machine's)."""
        return cls(OUT_OF_MEMORY, kind="too_large")

    def __reduce__(self) -> tuple:
        # Keeps `kind` when the error crosses from an image worker process to the server.
        return (self.__class__, (str(self),), {"kind": self.kind})

"""The one exception the imaging package raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def corrupt_on_failure(sentence: str) -> Iterator[None]:
    """A decoder's failure inside becomes a `corrupt` ImageError saying `sentence`; an ImageError
    (already a sentence) and a MemoryError (`render` says so in a sentence; no other reason is
    true) pass through."""
    try:
        yield
    except (ImageError, MemoryError):
        raise
    except Exception as exc:
        raise ImageError(sentence, kind="corrupt") from exc

"""The request body, read once and handed on.

The front reads a body to look at it before Radicale does (XML, iCalendar, charset), and
so do the scheduling answers; each read puts the bytes back into ``wsgi.input`` so the
next reader finds them.  At most max_content_length: the front refused longer bodies
before anything reads them.
"""

import io


def read_body(environ) -> bytes:
    """The body, b"" without a usable Content-Length; ``wsgi.input`` is re-filled with it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    return body

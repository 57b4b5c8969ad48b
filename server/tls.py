"""TLS as Radicale's own server does it, for `roomcal serve` (gunicorn).

``[server] ssl = True`` with ``certificate`` and ``key`` (and optionally
``certificate_authority`` for client certificates, ``protocol`` in Apache's
SSLProtocol format and ``ciphersuite``) means the same as under Radicale.  A
file that cannot be read, or a protocol string that leaves no version, stops the
server before it listens: it never serves plain HTTP when TLS was asked for.
"""

import ssl

from radicale import utils as radicale_utils


class TLSError(Exception):
    """The [server] TLS options cannot be used (one line, for the admin)."""


def context(configuration) -> ssl.SSLContext:
    certificate = configuration.get("server", "certificate")
    key = configuration.get("server", "key")
    authority = configuration.get("server", "certificate_authority")
    protocol = configuration.get("server", "protocol")
    ciphersuite = configuration.get("server", "ciphersuite")
    for option, path in (("certificate", certificate), ("key", key),
                         ("certificate_authority", authority)):
        if option == "certificate_authority" and not path:
            continue
        try:
            open(path, "rb").close()
        except OSError as e:
            raise TLSError(f"[server] ssl is on, but {option} {path!r} cannot be read: "
                           f"{e.strerror or e}") from None
    result = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        result.load_cert_chain(certfile=certificate, keyfile=key)
    except (ssl.SSLError, ValueError) as e:
        raise TLSError(f"[server] certificate {certificate!r} and key {key!r} do not make a "
                       f"usable pair: {e}") from None
    if protocol:
        result.options = radicale_utils.ssl_context_options_by_protocol(protocol, result.options)
        minimum = radicale_utils.ssl_context_minimum_version_by_options(result.options)
        maximum = radicale_utils.ssl_context_maximum_version_by_options(result.options)
        if not minimum or not maximum:
            raise TLSError(f"[server] protocol {protocol!r} leaves no TLS version to use")
        result.minimum_version, result.maximum_version = minimum, maximum
    if ciphersuite:
        try:
            result.set_ciphers(ciphersuite)
        except ssl.SSLError:
            raise TLSError(f"[server] ciphersuite {ciphersuite!r} names no usable cipher") from None
    if authority:
        result.load_verify_locations(cafile=authority)
        result.verify_mode = ssl.CERT_REQUIRED
    return result

"""A node's certificate is made again when the names it holds are not the node's own."""

from __future__ import annotations

from ansible_collections.rayfleet.cluster.plugins.filter.tls import subject_alt_names

# openssl x509 -noout -ext subjectAltName -checkend N, OpenSSL 3.0 (Debian 12).
OPENSSL_TEXT = """X509v3 Subject Alternative Name: \n    DNS:localhost, DNS:head, \
IP Address:127.0.0.1, IP Address:10.89.90.10, IP Address:2001:DB8:0:0:0:0:0:1
Certificate will not expire
"""


def test_the_certificates_names_match_the_names_the_role_asks_for() -> None:
    asked = ["DNS:localhost", "DNS:head", "IP:127.0.0.1", "IP:10.89.90.10", "IP:2001:db8::1"]
    assert subject_alt_names(OPENSSL_TEXT) == subject_alt_names(asked)


def test_a_changed_address_does_not_match() -> None:
    asked = ["DNS:localhost", "DNS:head", "IP:127.0.0.1", "IP:10.89.90.11", "IP:2001:db8::1"]
    assert subject_alt_names(OPENSSL_TEXT) != subject_alt_names(asked)


def test_no_certificate_holds_no_names() -> None:
    assert subject_alt_names("") == []
    assert subject_alt_names("Could not open file or uri for loading certificate") == []

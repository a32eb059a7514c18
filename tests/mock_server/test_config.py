"""Orthanc-style configuration: comments, every Servers form, clear errors naming the key."""

from __future__ import annotations

import json

import pytest

from dicomweb_mock.config import ConfigError, load_config, parse_config, strip_json_comments


def test_comments_are_stripped_but_not_inside_strings(tmp_path):
    text = """{
      // a line comment
      "Name" : "A // not a comment", /* block */
      "DicomWeb" : { "Root" : "/dicom-web/" }  // trailing
    }"""
    cfg = tmp_path / "orthanc.json"
    cfg.write_text(text)
    settings = load_config(cfg)
    assert settings.name == "A // not a comment"
    assert json.loads(strip_json_comments('{"a": "x/*y*/z"}')) == {"a": "x/*y*/z"}


def test_seed_dicomweb_section_is_read():
    s = parse_config({"DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado",
                                   "Host": "localhost", "Ssl": False, "StowMaxInstances": 10, "StowMaxSize": 10}})
    dw = s.dicomweb
    assert (dw.root, dw.wado_root, dw.host, dw.ssl) == ("/dicom-web/", "/wado", "localhost", False)
    assert (dw.stow_max_instances, dw.stow_max_size) == (10, 10)


def test_root_gets_trailing_slash_and_wado_root_loses_it():
    s = parse_config({"DicomWeb": {"Root": "/dw", "WadoRoot": "/wado/"}})
    assert s.dicomweb.root == "/dw/"
    assert s.dicomweb.wado_root == "/wado"


@pytest.mark.parametrize("servers, expected", [
    ({"sample": ["http://peer:8042/dicom-web/"]}, ("http://peer:8042/dicom-web/", None, None)),
    ({"sample": ["http://peer/dicom-web", "user", "pw"]}, ("http://peer/dicom-web/", "user", "pw")),
    ({"sample": {"Url": "https://peer/dw/", "CertificateFile": "c.crt", "CertificateKeyFile": "c.key",
                 "CertificateKeyPassword": "pw", "HttpHeaders": {"X-A": "1"}, "Timeout": 5}},
     ("https://peer/dw/", None, None)),
])
def test_every_servers_form_of_the_seed(servers, expected):
    server = parse_config({"DicomWeb": {"Servers": servers}}).dicomweb.servers["sample"]
    assert (server.url, server.username, server.password) == expected


def test_public_server_description_never_contains_the_password():
    server = parse_config({"DicomWeb": {"Servers": {"s": ["http://h/", "alice", "s3cret"]}}}).dicomweb.servers["s"]
    assert "s3cret" not in json.dumps(server.public())
    assert server.public()["Username"] == "alice"


@pytest.mark.parametrize("raw, key", [
    ({"HttpPort": "8042"}, "HttpPort"),
    ({"HttpPort": 70000}, "HttpPort"),
    ({"RemoteAccessAllowed": "yes"}, "RemoteAccessAllowed"),
    ({"DicomWeb": {"StowMaxInstances": -1}}, "DicomWeb.StowMaxInstances"),
    ({"DicomWeb": {"StowMaxSize": 1.5}}, "DicomWeb.StowMaxSize"),
    ({"DicomWeb": {"Root": "dicom-web"}}, "DicomWeb.Root"),
    ({"DicomWeb": {"Enable": 1}}, "DicomWeb.Enable"),
    ({"DicomWeb": {"Servers": {"s": ["ftp://x/"]}}}, "DicomWeb.Servers.s"),
    ({"DicomWeb": {"Servers": {"s": ["http://x/", "user"]}}}, "DicomWeb.Servers.s"),
    ({"DicomWeb": {"Servers": {"s": {"Url": "http://x/", "Colour": 1}}}}, "DicomWeb.Servers.s"),
    ({"DicomWeb": {"Servers": {"s": {"Url": "http://x/", "Pkcs11": True}}}}, "DicomWeb.Servers.s.Pkcs11"),
    ({"DicomWeb": {"Servers": {"s": {"Url": "http://x/", "Timeout": 0}}}}, "DicomWeb.Servers.s.Timeout"),
    ({"AuthenticationEnabled": True}, "AuthenticationEnabled"),
    ({"RegisteredUsers": {"alice": 3}}, "RegisteredUsers.alice"),
    ({"SslEnabled": True}, "SslEnabled"),
    ({"CheckPixelData": "no"}, "CheckPixelData"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert repr(key) in str(info.value) or key in str(info.value)


def test_invalid_json_file_names_the_file_and_line(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text('{\n "Name": "x",\n "HttpPort": ,\n}')
    with pytest.raises(ConfigError, match=r"bad\.json.*line 3"):
        load_config(cfg)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "absent.json")


def test_remote_access_without_authentication_key_turns_authentication_on():
    s = parse_config({"RemoteAccessAllowed": True, "RegisteredUsers": {"u": "p"}})
    assert s.authentication_enabled
    s = parse_config({"RemoteAccessAllowed": True, "AuthenticationEnabled": False, "RegisteredUsers": {"u": "p"}})
    assert not s.authentication_enabled

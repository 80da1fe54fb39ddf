//! Callback URL checks: every internal form refused with an empty allow-list, listed hosts
//! trusted, and only the normalized URL kept.

use super::*;

fn none() -> AllowList {
    AllowList::new(&[])
}

#[test]
fn internal_forms_are_refused_with_an_empty_allow_list() {
    for url in [
        "http://127.0.0.1/x",
        "http://localhost:8080/x",
        "http://localhost./x",
        "http://api.localhost/x",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[::ffff:169.254.169.254]/x",
        "http://[64:ff9b::7f00:1]/x",
        "http://[2002:7f00:1::]/x",
        "http://[::127.0.0.1]/x",
        "http://100.64.0.1/x",
        "http://0.0.0.0/x",
        "http://0.1.2.3/x",
        "http://255.255.255.255/x",
        "http://224.0.0.1/x",
        "http://[ff02::1]/x",
        "http://[fec0::1]/x",
        "http://[fd00::1]/x",
        "http://2130706433/x",
        "http://0x7f.1/x",
        "ftp://example.com/cb",
    ] {
        assert!(CallbackUrl::check(url, &none()).is_err(), "{url}");
    }
    assert!(CallbackUrl::check("https://example.com/cb", &none()).is_ok());
    assert!(CallbackUrl::check("http://93.184.216.34/cb", &none()).is_ok());
}

#[test]
fn listed_hosts_are_trusted_and_only_they_are_allowed() {
    let allowed = AllowList::new(&[
        "127.0.0.1".to_owned(),
        "[::1]".to_owned(),
        "*.corp.example".to_owned(),
        "Hooks.Example.".to_owned(),
    ]);
    for ok in [
        "http://127.0.0.1:9000/cb",
        "http://[::1]:9000/cb",
        "https://a.corp.example/cb",
        "https://hooks.example/cb",
        "https://HOOKS.example./cb",
    ] {
        assert!(CallbackUrl::check(ok, &allowed).is_ok(), "{ok}");
    }
    for bad in [
        "https://example.com/cb",
        "https://corp.example/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://10.0.0.1/cb",
    ] {
        assert!(CallbackUrl::check(bad, &allowed).is_err(), "{bad}");
    }
}

#[test]
fn the_normalized_url_is_kept_and_logs_show_no_credentials() {
    let url = CallbackUrl::check(
        "HTTPS://user:pw@Example.COM/a\r\nINFO forged line?token=1",
        &none(),
    )
    .unwrap();
    assert!(!url.as_str().contains(['\r', '\n']));
    assert!(url.as_str().starts_with("https://user:pw@example.com/"));
    let shown = url.for_log();
    assert!(!shown.contains("pw") && !shown.contains("token"), "{shown}");
    assert!(!format!("{url:?}").contains("pw"));
}

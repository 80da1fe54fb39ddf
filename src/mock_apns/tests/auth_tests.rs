//! Provider-token and client-certificate authentication.

use std::time::Duration;

use super::*;
use crate::mock_apns::{AuthInfo, Environment, EnvironmentMode, KeyRegistration};

fn register(sim: &Simulator, key: &Key, pem: KeyPem) -> KeyRegistration {
    let mut reg = KeyRegistration {
        key_id: key.key_id.clone(),
        team_id: key.team_id.clone(),
        ..KeyRegistration::default()
    };
    match pem {
        KeyPem::P8 => reg.private_key_pem = Some(key.p8()),
        KeyPem::Public => reg.public_key_pem = Some(key.public_pem()),
    }
    sim.register_key(&reg).expect("register key");
    reg
}

enum KeyPem {
    P8,
    Public,
}

#[tokio::test]
async fn token_auth_accepts_raw_and_der_signatures() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let raw_key = Key::new("RAWKEY0001", "TEAM000001");
    let der_key = Key::new("DERKEY0001", "TEAM000001");
    register(&sim, &raw_key, KeyPem::P8);
    register(&sim, &der_key, KeyPem::Public);
    let iat = now_secs(&clock);
    let c = Client::connect(&sim, None).await;
    let r = push(
        &c,
        &device_token(1),
        &voip_headers(&raw_key.token(iat, false)),
    )
    .await;
    assert_eq!((r.status, r.reason()), (200, String::new()));
    let r = push(
        &c,
        &device_token(1),
        &voip_headers(&der_key.token(iat, true)),
    )
    .await;
    assert_eq!((r.status, r.reason()), (200, String::new()));
    let log = sim.pushes(0);
    let want = AuthInfo::Token {
        key_id: "DERKEY0001".into(),
        team_id: "TEAM000001".into(),
        issued_at: iat,
    };
    assert_eq!(log.last().map(|p| &p.auth), Some(&want));
}

#[tokio::test]
async fn token_auth_rejections() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let key = Key::new("KEY0000001", "TEAM000001");
    register(&sim, &key, KeyPem::P8);
    let iat = now_secs(&clock);
    let c = Client::connect(&sim, None).await;
    let t = device_token(1);
    let mut no_auth = voip_headers("x");
    no_auth.retain(|(k, _)| *k != "authorization");
    let r = push(&c, &t, &no_auth).await;
    assert_eq!((r.status, r.reason()), (403, "MissingProviderToken".into()));
    let unknown = Key::new("UNKNOWN001", "TEAM000001").token(iat, false);
    let r = push(&c, &t, &voip_headers(&unknown)).await;
    assert_eq!((r.status, r.reason()), (403, "InvalidProviderToken".into()));
    let forged = Key::new("KEY0000001", "TEAM000001").token(iat, false);
    let r = push(&c, &t, &voip_headers(&forged)).await;
    assert_eq!((r.status, r.reason()), (403, "InvalidProviderToken".into()));
    let wrong_team = Key {
        team_id: "OTHERTEAM1".into(),
        ..key
    };
    let r = push(&c, &t, &voip_headers(&wrong_team.token(iat, false))).await;
    assert_eq!((r.status, r.reason()), (403, "InvalidProviderToken".into()));
    let key = Key {
        team_id: "TEAM000001".into(),
        ..wrong_team
    };
    let r = push(&c, &t, &voip_headers(&key.token(iat - 3601, false))).await;
    assert_eq!((r.status, r.reason()), (403, "ExpiredProviderToken".into()));
    // A good token works, then expires on the same connection as time passes.
    let good = key.token(iat, false);
    assert_eq!(push(&c, &t, &voip_headers(&good)).await.status, 200);
    clock.advance(Duration::from_secs(3601));
    let r = push(&c, &t, &voip_headers(&good)).await;
    assert_eq!((r.status, r.reason()), (403, "ExpiredProviderToken".into()));
}

#[tokio::test]
async fn too_many_provider_token_updates() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let key = Key::new("KEY0000002", "TEAM000002");
    register(&sim, &key, KeyPem::P8);
    let iat = now_secs(&clock);
    let (first, second) = (key.token(iat, false), key.token(iat + 1, false));
    let c = Client::connect(&sim, None).await;
    let t = device_token(2);
    assert_eq!(push(&c, &t, &voip_headers(&first)).await.status, 200);
    // A second replica minting its own token for the same key.
    let other = Client::connect(&sim, None).await;
    let r = push(&other, &t, &voip_headers(&second)).await;
    assert_eq!(
        (r.status, r.reason()),
        (429, "TooManyProviderTokenUpdates".into())
    );
    assert_eq!(push(&c, &t, &voip_headers(&first)).await.status, 200);
    clock.advance(Duration::from_secs(21 * 60));
    assert_eq!(push(&other, &t, &voip_headers(&second)).await.status, 200);
    // Switching back within 20 minutes is another update.
    let third = Client::connect(&sim, None).await;
    let r = push(&third, &t, &voip_headers(&first)).await;
    assert_eq!(r.reason(), "TooManyProviderTokenUpdates");
}

#[tokio::test]
async fn one_team_per_connection_and_key_restrictions() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let a = Key::new("KEYTEAMA01", "TEAMAAAAAA");
    let b = Key::new("KEYTEAMB01", "TEAMBBBBBB");
    register(&sim, &a, KeyPem::P8);
    register(&sim, &b, KeyPem::P8);
    let iat = now_secs(&clock);
    let c = Client::connect(&sim, None).await;
    let t = device_token(3);
    assert_eq!(
        push(&c, &t, &voip_headers(&a.token(iat, false)))
            .await
            .status,
        200
    );
    let r = push(&c, &t, &voip_headers(&b.token(iat, false))).await;
    assert_eq!(
        (r.status, r.reason()),
        (403, "UnrelatedKeyIdInToken".into())
    );
    let fresh = Client::connect(&sim, None).await;
    assert_eq!(
        push(&fresh, &t, &voip_headers(&b.token(iat, false)))
            .await
            .status,
        200
    );

    let dev_only = Key::new("KEYDEVONLY", "TEAMCCCCCC");
    let mut reg = register(&sim, &dev_only, KeyPem::P8);
    reg.environment = Some(Environment::Sandbox);
    sim.register_key(&reg).expect("re-register");
    let c = Client::connect(&sim, None).await;
    let r = push(&c, &t, &voip_headers(&dev_only.token(iat, false))).await;
    assert_eq!(
        (r.status, r.reason()),
        (403, "BadEnvironmentKeyIdInToken".into())
    );

    let scoped = Key::new("KEYSCOPED1", "TEAMDDDDDD");
    let mut reg = register(&sim, &scoped, KeyPem::P8);
    reg.topics = Some(vec!["com.other.app.voip".into()]);
    sim.register_key(&reg).expect("re-register");
    let c = Client::connect(&sim, None).await;
    let r = push(&c, &t, &voip_headers(&scoped.token(iat, false))).await;
    assert_eq!((r.status, r.reason()), (400, "TopicDisallowed".into()));
}

fn cert_headers(topic: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = vec![("apns-push-type", "voip".to_string())];
    if let Some(t) = topic {
        h.push(("apns-topic", t.to_string()));
    }
    h
}

#[tokio::test]
async fn certificate_auth_topics() {
    let clock = clock();
    let ca = client_ca();
    let mut cfg = config(EnvironmentMode::Production, &clock);
    cfg.client_ca = ca_source(&ca);
    let sim = run(cfg).await;
    let t = device_token(4);

    let voip = apple_cert(&ca, "com.example.app.voip", false, false, &[]);
    let c = Client::connect(&sim, Some(&voip)).await;
    let r = push(&c, &t, &cert_headers(Some("com.example.app.voip"))).await;
    assert_eq!(r.status, 200, "{}", r.reason());
    let r = push(&c, &t, &cert_headers(None)).await;
    assert_eq!(r.status, 200, "single-topic cert: topic inferred");
    let r = push(&c, &t, &cert_headers(Some("com.other.app.voip"))).await;
    assert_eq!((r.status, r.reason()), (400, "BadTopic".into()));
    match &sim.pushes(0)[0].auth {
        AuthInfo::Certificate { uid, subject, .. } => {
            assert_eq!(uid.as_deref(), Some("com.example.app.voip"));
            assert!(subject.contains("UID=com.example.app.voip"), "{subject}");
        }
        other => panic!("unexpected auth {other:?}"),
    }

    let topics = ["com.example.app", "com.example.app.voip"];
    let multi = apple_cert(&ca, "com.example.app", true, true, &topics);
    let c = Client::connect(&sim, Some(&multi)).await;
    let r = push(&c, &t, &cert_headers(None)).await;
    assert_eq!((r.status, r.reason()), (400, "MissingTopic".into()));
    let r = push(&c, &t, &cert_headers(Some("com.example.app.voip"))).await;
    assert_eq!(r.status, 200, "{}", r.reason());
}

#[tokio::test]
async fn certificate_environment_and_trust() {
    let clock = clock();
    let ca = client_ca();
    let mut prod_cfg = config(EnvironmentMode::Production, &clock);
    prod_cfg.client_ca = ca_source(&ca);
    let prod = run(prod_cfg).await;
    let mut dev_cfg = config(EnvironmentMode::Development, &clock);
    dev_cfg.client_ca = ca_source(&ca);
    let dev = run(dev_cfg).await;
    let t = device_token(5);
    let topic = Some("com.example.app.voip");

    let dev_cert = apple_cert(&ca, "com.example.app.voip", true, false, &[]);
    let c = Client::connect(&prod, Some(&dev_cert)).await;
    let r = push(&c, &t, &cert_headers(topic)).await;
    assert_eq!(
        (r.status, r.reason()),
        (403, "BadCertificateEnvironment".into())
    );
    let c = Client::connect(&dev, Some(&dev_cert)).await;
    let r = push(&c, &t, &cert_headers(topic)).await;
    assert_eq!(r.status, 200);
    assert!(r.header("apns-unique-id").is_some());

    let stranger = apple_cert(&client_ca(), "com.example.app.voip", true, true, &[]);
    let c = Client::connect(&prod, Some(&stranger)).await;
    let r = push(&c, &t, &cert_headers(topic)).await;
    assert_eq!((r.status, r.reason()), (403, "BadCertificate".into()));
}

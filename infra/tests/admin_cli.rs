//! `keel-local admin grant|revoke` against a data folder a running server is using: the
//! command finds the server's engine and changes the role through it. (A multi-threaded runtime:
//! the test blocks on the command while its own server answers it.)

use keel::domain::{Email, Password, Role, Username};
use keel_local::engines::Storage;
use keel_local::{Backend, Options};

fn admin_command(dir: &std::path::Path, table: &str, action: &str, username: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keel-local"))
        .args(["admin", action, "--data-dir"])
        .arg(dir)
        .args(["--table", table, username])
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .output()
        .expect("keel-local runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_command_changes_a_role_while_the_server_runs_on_the_same_folder() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok_and(|v| !v.is_empty()) {
        // The folder's embedded engine is what this test is about.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let table = format!("admin-{}", uuid::Uuid::new_v4().simple());
    let app = keel_local::spawn(Options {
        port: 0,
        template: Options::default_template(),
        storage: Storage::Dir(dir.path().to_owned()),
        backend: Backend::Local,
        table: table.clone(),
        bucket: "admin-cli".into(),
        jwt_secret: "0123456789abcdef0123456789abcdef".into(),
        engine_ports: (0, 0),
        meter: Default::default(),
        access_log: Default::default(),
        process_stream: true,
        payments: keel::payments::Payments::manual(keel::payments::DEFAULT_WINDOW),
    })
    .await
    .expect("the server starts");
    let store = &app.deps.store;
    let hash = keel::auth::hash_password(Password::parse(Some("a long password")).unwrap())
        .await
        .unwrap();
    let user = store
        .create_user(
            Username::parse(Some("Shopkeeper")).unwrap(),
            Email::parse(Some("shop@example.com")).unwrap(),
            hash,
        )
        .await
        .unwrap();
    assert_eq!(store.role(&user.id).await.unwrap(), Some(Role::User));

    let granted = admin_command(dir.path(), &table, "grant", "shopkeeper");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert_eq!(store.role(&user.id).await.unwrap(), Some(Role::Admin));
    let revoked = admin_command(dir.path(), &table, "revoke", "Shopkeeper");
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert_eq!(store.role(&user.id).await.unwrap(), Some(Role::User));

    let unknown = admin_command(dir.path(), &table, "grant", "nobody");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user named"));
    drop(app);

    // With the server stopped, the command opens the folder itself.
    let offline = admin_command(dir.path(), &table, "grant", "shopkeeper");
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
}

//! Every chapter's client against every chapter's server.

use std::process::Command;

use echo_conformance::{CHAPTERS, Server, binary, client};

/// Runs `scenario` for each (client, server) pair, naming the pair on failure.
fn each_pair(scenario: fn(&std::path::Path, &Server)) {
    for server_chapter in CHAPTERS {
        let server = Server::start(Command::new(binary(server_chapter.server)));
        for client_chapter in CHAPTERS {
            eprintln!("{} -> {}", client_chapter.client, server_chapter.server);
            scenario(&binary(client_chapter.client), &server);
        }
    }
}

#[test]
fn every_client_pipes_a_line_through_every_server() {
    each_pair(client::pipes_a_line);
}

#[test]
fn every_client_handles_empty_stdin_with_every_server() {
    each_pair(client::empty_stdin);
}

#[test]
fn every_client_streams_100_mib_full_duplex_through_every_server() {
    each_pair(client::full_duplex_100_mib);
}

#[test]
fn every_client_exits_when_the_server_closes_early() {
    for chapter in CHAPTERS {
        client::exits_when_server_closes_early(&binary(chapter.client));
    }
}

#[test]
fn every_client_reports_a_refused_connection_in_one_line() {
    for chapter in CHAPTERS {
        client::refused_connection_is_one_line(&binary(chapter.client));
    }
}

#[test]
fn every_server_reports_bad_listen_addresses_in_one_line() {
    for chapter in CHAPTERS {
        for bad in [
            "not-an-address",
            "127.0.0.1:99999",
            echo_conformance::net::UNRESOLVABLE,
        ] {
            let output = Command::new(binary(chapter.server))
                .args(["--listen", bad])
                .output()
                .unwrap();
            assert!(
                !output.status.success(),
                "{} accepted --listen {bad}",
                chapter.server
            );
            client::assert_user_error(&String::from_utf8_lossy(&output.stderr));
        }
    }
}

#[test]
fn every_server_reports_a_port_in_use_in_one_line() {
    for chapter in CHAPTERS {
        let taken = Server::start(Command::new(binary(chapter.server)));
        let output = Command::new(binary(chapter.server))
            .args(["--listen", &taken.addr().to_string()])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        client::assert_user_error(&stderr);
        assert!(stderr.contains("in use"), "{stderr}");
    }
}

#[test]
fn every_binary_explains_its_flags() {
    for chapter in CHAPTERS {
        for (name, flag) in [(chapter.server, "--listen"), (chapter.client, "--connect")] {
            let output = Command::new(binary(name)).arg("--help").output().unwrap();
            assert!(output.status.success(), "{name} --help failed");
            let help = String::from_utf8_lossy(&output.stdout);
            assert!(
                help.contains(flag),
                "{name} --help does not mention {flag}: {help}"
            );
        }
    }
}

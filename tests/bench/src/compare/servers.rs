//! Finding, building and starting the servers under comparison.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use echo_conformance::CHAPTERS;

use crate::system;

/// The project's Python asyncio server, relative to the workspace root.
pub const PYTHON_SERVER: &str = "chapters/ch04-async-echo/asyncio/echo_server.py";

/// Enough for the idle-connection measurement and then some; passed to
/// every chapter's server so that none refuses connections we make.
pub const MAX_CONNECTIONS: &str = "20000";

/// Variants of a chapter's server measured beside it: the package, the
/// suffix of the variant's name, its extra flags, and what it is.
const VARIANTS: &[(&str, &str, &[&str], &str)] = &[(
    "ch06-uring-echo",
    "-sqpoll",
    &["--sqpoll"],
    "chapter 6 with `--sqpoll`: a kernel thread polls the submission queue \
     (a thread of the server: its CPU time is the server's)",
)];

/// The reference servers, measured beside the chapters: the name in the
/// tables, the binary (built with echo-bench), and what it is.
pub const REFERENCES: [(&str, &str, &str); 2] = [
    (
        "minimal-epoll",
        "minimal-epoll-echo",
        "reference: the least an epoll echo server can do",
    ),
    (
        "tokio-echo",
        "tokio-echo",
        "reference: the least a tokio echo server can do (tokio's own example, \
         never exiting on an accept error)",
    ),
];

/// A server to compare, and how to start it.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Short name for tables and charts, e.g. `ch03-multiplexed`.
    pub name: String,
    pub description: String,
    pub program: PathBuf,
    /// Everything but `--listen`, which [`RunningServer::start`] adds.
    pub args: Vec<String>,
}

/// What each chapter's server is, in a few words.
fn describe(package: &str) -> String {
    let what = match package.get(..4) {
        Some("ch01") => "chapter 1: blocking, a thread per connection",
        Some("ch02") => "chapter 2: non-blocking, one thread trying every socket",
        Some("ch03") => "chapter 3: an epoll event loop",
        Some("ch04") => "chapter 4: tokio",
        Some("ch05") => "chapter 5: our own runtime",
        Some("ch06") => "chapter 6: io_uring completions, multishot receive into a buffer ring",
        _ => "",
    };
    if what.is_empty() {
        package.to_string()
    } else {
        what.to_string()
    }
}

/// Builds (unless `build` is false) and lists every server to compare:
/// each chapter's, the two references, and the Python asyncio server when
/// python3 runs. A chapter that does not build is left out
/// with a note, not fatal: chapters land one at a time.
pub fn discover(
    root: &Path,
    bin_dir: &Path,
    build: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<ServerSpec>> {
    let mut packages: Vec<&str> = CHAPTERS.iter().map(|c| c.package).collect();
    if build {
        let mut all = vec!["echo-bench"];
        all.extend(&packages);
        if !cargo_build(root, &all)? {
            if !cargo_build(root, &["echo-bench"])? {
                bail!("echo-bench itself does not build");
            }
            packages.retain(|package| {
                let built = cargo_build(root, &[package]).unwrap_or(false);
                if !built {
                    notes.push(format!(
                        "{package} did not build, so it is not in these results."
                    ));
                }
                built
            });
        }
    }

    let chapter_args = || {
        vec![
            "--quiet".to_string(),
            "--max-connections".to_string(),
            MAX_CONNECTIONS.to_string(),
        ]
    };
    let mut servers = Vec::new();
    for chapter in CHAPTERS.iter().filter(|c| packages.contains(&c.package)) {
        let program = bin_dir.join(chapter.server);
        if !program.exists() {
            notes.push(format!(
                "{} is missing, so {} is not in these results.",
                program.display(),
                chapter.package
            ));
            continue;
        }
        let name = chapter.package.trim_end_matches("-echo");
        servers.push(ServerSpec {
            name: name.to_string(),
            description: describe(chapter.package),
            program: program.clone(),
            args: chapter_args(),
        });
        for (_, suffix, flags, description) in VARIANTS
            .iter()
            .filter(|(package, ..)| *package == chapter.package)
        {
            let mut args = chapter_args();
            args.extend(flags.iter().map(|flag| flag.to_string()));
            servers.push(ServerSpec {
                name: format!("{name}{suffix}"),
                description: description.to_string(),
                program: program.clone(),
                args,
            });
        }
    }
    for (name, binary, description) in REFERENCES {
        let program = bin_dir.join(binary);
        if program.exists() {
            servers.push(ServerSpec {
                name: name.to_string(),
                description: description.to_string(),
                program,
                args: chapter_args(),
            });
        } else {
            notes.push(format!(
                "{} is missing, so the reference {name} is not in these results.",
                program.display()
            ));
        }
    }
    match python_server(root) {
        Ok(spec) => servers.push(spec),
        Err(why) => notes.push(format!("No Python asyncio server: {why}.")),
    }
    Ok(servers)
}

pub(crate) fn cargo_build(root: &Path, packages: &[&str]) -> Result<bool> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--bins", "--quiet"]);
    for package in packages {
        command.args(["--package", package]);
    }
    let status = command.status().context("cannot run cargo")?;
    Ok(status.success())
}

fn python_server(root: &Path) -> Result<ServerSpec, String> {
    let script = root.join(PYTHON_SERVER);
    if !script.exists() {
        return Err(format!("{PYTHON_SERVER} does not exist (yet)"));
    }
    let help = Command::new("python3")
        .arg(&script)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("python3 does not run ({e})"))?;
    if !help.status.success() {
        return Err(format!("`python3 {PYTHON_SERVER} --help` failed"));
    }
    // Pass the chapters' flags only where the script takes them.
    let help = String::from_utf8_lossy(&help.stdout);
    let mut args = vec![script.display().to_string()];
    if help.contains("--quiet") {
        args.push("--quiet".into());
    }
    if help.contains("--max-connections") {
        args.extend(["--max-connections".into(), MAX_CONNECTIONS.into()]);
    }
    Ok(ServerSpec {
        name: "python-asyncio".into(),
        description: "Python asyncio (chapter 4's comparison)".into(),
        program: PathBuf::from("python3"),
        args,
    })
}

/// A started server, killed when dropped.
pub struct RunningServer {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

/// How long a server may take to print `listening on ADDR`.
const STARTUP: Duration = Duration::from_secs(30);

/// How much of a server's stderr to keep for error messages.
const STDERR_TAIL: usize = 2048;

impl RunningServer {
    /// Starts `spec` on a free loopback port, pinned to `cpu` if given,
    /// and waits for its `listening on ADDR` line.
    pub fn start(spec: &ServerSpec, cpu: Option<usize>) -> Result<RunningServer> {
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cpu) = cpu {
            system::pin(&mut command, cpu);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", spec.program.display()))?;

        // Keep reading both pipes so the server never blocks on them.
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                    tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if tail.len() > 2 * STDERR_TAIL {
                        let cut = tail.len() - STDERR_TAIL;
                        let cut = (cut..tail.len())
                            .find(|&i| tail.is_char_boundary(i))
                            .unwrap_or(tail.len());
                        tail.drain(..cut);
                    }
                }
            });
        }
        let stdout = child.stdout.take().context("stdout is piped")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut server = RunningServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        let line = match rx.recv_timeout(STARTUP) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(anyhow!("cannot read its stdout: {e}")),
            Err(_) => bail!("no `listening on` line within {STARTUP:?}"),
        };
        server.addr = line
            .trim_end()
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| {
                anyhow!(
                    "its first line was {line:?}, not `listening on ADDR`; stderr: {}",
                    server.stderr_tail()
                )
            })?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with the exit status and the end of stderr if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(anyhow!(
                "the server exited ({status}); its stderr ends: {}",
                self.stderr_tail()
            )),
            Err(e) => Err(anyhow!("cannot check on the server: {e}")),
        }
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) -> Result<()> {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is
        // our own child's, which has not been waited for yet.
        if unsafe { libc::kill(self.child.id() as libc::pid_t, signal) } != 0 {
            return Err(std::io::Error::last_os_error()).context("kill");
        }
        Ok(())
    }

    /// Waits up to `limit` for the server to exit by itself; `None` if it
    /// is still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("cannot wait for the server")?
            {
                return Ok(Some(status));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            // Polling an exit status: no event to wait on without a
            // SIGCHLD handler.
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        tail.trim()
            .lines()
            .last()
            .unwrap_or("(nothing)")
            .to_string()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running echo-bench binary and its directory, which must be a
/// release build's: `what` measures the servers built beside it, and debug
/// builds would measure the compiler's settings instead of the IO models.
pub fn release_build(what: &str) -> Result<(PathBuf, PathBuf)> {
    let exe = std::env::current_exe().context("cannot find the echo-bench binary")?;
    let bin_dir = exe
        .parent()
        .context("the echo-bench binary has no directory")?
        .to_path_buf();
    if bin_dir.file_name().is_some_and(|d| d != "release") {
        bail!(
            "{what} measures release builds: run it as `cargo run --release -p echo-bench -- {what}`"
        );
    }
    Ok((exe, bin_dir))
}

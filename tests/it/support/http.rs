//! A tiny HTTP/1.1 server on 127.0.0.1 for download tests and for a fake
//! Docker engine: it serves fixed bodies by path (the query left out when
//! no route has it; 404 for anything else), one thread per connection, one
//! request per connection, and records the paths asked for. It stops when
//! dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server answers for a path.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// This status with a JSON body.
    Json { status: u16, body: String },
    /// 200 announcing `length` bytes, sends `first` of them, then stalls
    /// for `stall` before closing.
    Stall {
        length: usize,
        first: usize,
        stall: Duration,
    },
}

pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(routes: HashMap<String, Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a local port");
        let addr = listener.local_addr().expect("the local address");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let accept = {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let routes = routes.clone();
                    let requests = requests.clone();
                    std::thread::spawn(move || serve(stream, &routes, &requests));
                }
            })
        };
        Self {
            addr,
            stop,
            requests,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// The paths asked for so far, in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("the request log").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(mut stream: TcpStream, routes: &HashMap<String, Reply>, requests: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |p| p + 4);
    let (head, mut body_read) = (
        String::from_utf8_lossy(&head[..end]).into_owned(),
        head.len() - end,
    );
    // Read the request's body, so that closing the connection does not reset it.
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while body_read < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body_read += n,
        }
    }
    let path = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    requests.lock().expect("the request log").push(path.clone());
    let route = path.trim_start_matches('/');
    let without_query = route.split('?').next().unwrap_or(route);
    match routes.get(route).or_else(|| routes.get(without_query)) {
        Some(Reply::Json { status, body }) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Fake\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body.as_bytes());
        }
        Some(Reply::Body(body)) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
        Some(Reply::Stall {
            length,
            first,
            stall,
        }) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(&vec![b'x'; *first]);
            let _ = stream.flush();
            std::thread::sleep(*stall);
        }
        None => {
            let body = b"not found\n";
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    }
    let _ = stream.flush();
}

//! `profiles`: continuous-profiling samples from the fleet's replicas.
//!
//! Each row is one profile of one replica: mostly 10 s CPU profiles sampled at 100 Hz, the
//! rest allocation and in-use heap profiles. `stacktraces_json` holds the profile's distinct
//! stacks, leaf frame first, as SignalDB stores them
//! (`[{"frames":[{"function_name":…,"filename":…,"line":…},…]},…]`); `samples_json` holds one
//! sample per stack (`[{"stacktrace_index":0,"values":[…]},…]`), CPU nanoseconds or bytes.
//! About one profile in five is linked to the span it was taken in (`trace_id`, `span_id`, and
//! `link_index` on its hottest sample).

use rand::Rng;
use serde_json::{Value, json};

use super::columns::{Columns, MapColumn};
use crate::generator::fleet::{Fleet, Instance, Service};
use crate::generator::random::{pick, span_id, trace_id, weighted};
use crate::generator::rows::sort_by_time;
use crate::generator::spec::Window;

/// One kind of profile: sample type and unit, period type and unit, period.
struct Kind {
    sample_type: &'static str,
    sample_unit: &'static str,
    period_type: &'static str,
    period_unit: &'static str,
    period: i64,
}

const CPU: Kind = Kind {
    sample_type: "cpu",
    sample_unit: "nanoseconds",
    period_type: "cpu",
    period_unit: "nanoseconds",
    period: 10_000_000,
};
const ALLOC: Kind = Kind {
    sample_type: "alloc_space",
    sample_unit: "bytes",
    period_type: "space",
    period_unit: "bytes",
    period: 524_288,
};
const INUSE: Kind = Kind {
    sample_type: "inuse_space",
    sample_unit: "bytes",
    period_type: "space",
    period_unit: "bytes",
    period: 524_288,
};
const KINDS: [(&Kind, u32); 3] = [(&CPU, 6), (&ALLOC, 3), (&INUSE, 1)];

/// Length of every profile.
const DURATION_NS: i64 = 10_000_000_000;

/// Frames a runtime contributes to stacks: hot leaves, framework frames, thread roots; the
/// frame type and the source-file extension of the service's own code.
struct Runtime {
    leaves: &'static [&'static str],
    framework: &'static [&'static str],
    roots: &'static [&'static str],
    frame_type: &'static str,
    extension: &'static str,
}

fn runtime(language: &str) -> Runtime {
    match language {
        "go" => Runtime {
            leaves: &[
                "runtime.mallocgc",
                "syscall.Syscall6",
                "runtime.memmove",
                "encoding/json.(*encodeState).string",
                "runtime.scanobject",
            ],
            framework: &["net/http.HandlerFunc.ServeHTTP", "net/http.serverHandler.ServeHTTP"],
            roots: &["net/http.(*conn).serve", "runtime.goexit"],
            frame_type: "go",
            extension: "go",
        },
        "java" => Runtime {
            leaves: &[
                "java.util.HashMap.resize",
                "sun.nio.ch.SocketDispatcher.read0",
                "com.fasterxml.jackson.databind.ObjectMapper.writeValueAsString",
                "java.lang.String.<init>",
            ],
            framework: &[
                "org.springframework.web.servlet.DispatcherServlet.doDispatch",
                "org.apache.catalina.core.ApplicationFilterChain.doFilter",
            ],
            roots: &[
                "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run",
                "java.lang.Thread.run",
            ],
            frame_type: "jvm",
            extension: "java",
        },
        "python" => Runtime {
            leaves: &[
                "json.encoder.JSONEncoder.encode",
                "socket.socket.recv",
                "numpy.core.multiarray.dot",
                "re.Pattern.match",
            ],
            framework: &[
                "flask.app.Flask.dispatch_request",
                "werkzeug.serving.WSGIRequestHandler.handle",
            ],
            roots: &["threading.Thread._bootstrap", "<module>"],
            frame_type: "cpython",
            extension: "py",
        },
        "nodejs" => Runtime {
            leaves: &["JSON.stringify", "Buffer.from", "(garbage collector)", "writev"],
            framework: &["Layer.handle [as handle_request]", "Router.handle"],
            roots: &["Server.emit", "processTicksAndRejections"],
            frame_type: "v8js",
            extension: "js",
        },
        "dotnet" => Runtime {
            leaves: &[
                "System.Text.Json.JsonSerializer.Serialize",
                "System.Net.Sockets.Socket.Receive",
                "System.Collections.Generic.Dictionary`2.Resize",
            ],
            framework: &[
                "Microsoft.AspNetCore.Routing.EndpointMiddleware.Invoke",
                "Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.HttpProtocol.ProcessRequests",
            ],
            roots: &[
                "System.Threading.ThreadPoolWorkQueue.Dispatch",
                "System.Threading.PortableThreadPool.WorkerThread.WorkerThreadStart",
            ],
            frame_type: "dotnet",
            extension: "cs",
        },
        other => Runtime {
            leaves: &["__memmove_avx_unaligned_erms", "__libc_recv", "malloc", "epoll_wait"],
            framework: &["handle_request", "dispatch"],
            roots: &["start_thread", "clone3"],
            frame_type: match other {
                "php" => "php",
                "ruby" => "ruby",
                _ => "native",
            },
            extension: match other {
                "cpp" => "cc",
                "rust" => "rs",
                "php" => "php",
                "ruby" => "rb",
                _ => "c",
            },
        },
    }
}

/// One stack, leaf first: a runtime leaf, one of the service's own functions, the framework
/// frames and the thread root.
fn stack(rng: &mut impl Rng, service: &Service, rt: &Runtime) -> Value {
    let own = *pick(rng, service.functions);
    let file = format!("src/{}/{}.{}", service.name, own.replace(['.', ':'], "_"), rt.extension);
    let mut frames = vec![json!({"function_name": *pick(rng, rt.leaves)})];
    frames.push(json!({"function_name": own, "filename": file, "line": rng.random_range(12..900)}));
    let framework = rng.random_range(1..=rt.framework.len());
    frames.extend(rt.framework[..framework].iter().map(|f| json!({"function_name": f})));
    frames.extend(rt.roots.iter().map(|f| json!({"function_name": f})));
    json!({"frames": frames})
}

struct Profile<'f> {
    ts: i64,
    instance: &'f Instance,
    kind: &'static Kind,
    id: String,
    stacktraces: String,
    samples: String,
    link: Option<(String, String)>,
}

fn profile<'f>(rng: &mut impl Rng, fleet: &'f Fleet, window: Window) -> Profile<'f> {
    let ts = window.sample(rng);
    let instance = fleet.any(rng);
    let kind = *weighted(rng, &KINDS);
    let rt = runtime(instance.service.language);
    let stacks: Vec<Value> =
        (0..rng.random_range(3..=8)).map(|_| stack(rng, instance.service, &rt)).collect();
    let link = rng.random_bool(0.2).then(|| (trace_id(rng), span_id(rng)));
    let samples: Vec<Value> = (0..stacks.len())
        .map(|i| {
            // A few hot stacks and a long tail, as profiles usually look.
            let weight = rng.random_range(1..=200) / (i as i64 + 1);
            let value = weight.max(1) * kind.period * rng.random_range(1..=4);
            let mut sample = json!({"stacktrace_index": i, "values": [value]});
            if i == 0 && link.is_some() {
                sample["link_index"] = json!(0);
            }
            sample
        })
        .collect();
    Profile {
        ts,
        instance,
        kind,
        id: format!("{:032x}", rng.random::<u128>().max(1)),
        stacktraces: Value::Array(stacks).to_string(),
        samples: Value::Array(samples).to_string(),
        link,
    }
}

/// The columns of one profiles file with `rows` profiles timed inside `window`.
pub fn generate(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let mut profiles: Vec<Profile<'_>> = (0..rows).map(|_| profile(rng, fleet, window)).collect();
    sort_by_time(&mut profiles, |p| p.ts);
    let p = &profiles;
    let mut c = Columns::new(p.len());
    c.strings("profile_id", p.iter().map(|p| p.id.as_str()));
    c.time(&p.iter().map(|p| p.ts).collect::<Vec<_>>());
    c.longs("duration_nano", p.iter().map(|_| Some(DURATION_NS)));
    c.strings("sample_type", p.iter().map(|p| p.kind.sample_type));
    c.strings("sample_unit", p.iter().map(|p| p.kind.sample_unit));
    c.opt_strings("period_type", p.iter().map(|p| Some(p.kind.period_type)));
    c.opt_strings("period_unit", p.iter().map(|p| Some(p.kind.period_unit)));
    c.longs("period", p.iter().map(|p| Some(p.kind.period)));
    c.strings("service_name", p.iter().map(|p| p.instance.service.name));
    c.strings("stacktraces_json", p.iter().map(|p| p.stacktraces.as_str()));
    c.strings("samples_json", p.iter().map(|p| p.samples.as_str()));
    let mut resources = MapColumn::default();
    let mut scope_attributes = MapColumn::default();
    let mut attributes = MapColumn::default();
    for p in p {
        resources.push(p.instance.attributes.iter().map(|(k, v)| (*k, v)));
        scope_attributes.push::<&str, &str>([]);
        let frame_type = runtime(p.instance.service.language).frame_type;
        attributes.push([("profile.frame.type", frame_type), ("host.arch", "amd64")]);
    }
    c.map("resource_attributes", resources);
    c.map("scope_attributes", scope_attributes);
    c.map("profile_attributes", attributes);
    c.opt_strings("trace_id", p.iter().map(|p| p.link.as_ref().map(|l| l.0.as_str())));
    c.opt_strings("span_id", p.iter().map(|p| p.link.as_ref().map(|l| l.1.as_str())));
    c
}

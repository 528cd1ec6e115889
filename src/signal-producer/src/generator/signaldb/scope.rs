//! Instrumentation scopes: which OpenTelemetry library recorded a span, log record or metric,
//! as the SDK of each service's language names it; and the semantic-conventions schema every
//! generated resource follows.

use crate::generator::fleet::Service;

/// The OpenTelemetry semantic-conventions schema the generated resources follow.
pub const RESOURCE_SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

/// What kind of instrumentation produced the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrumentation {
    /// The HTTP server or client library.
    Http,
    /// The database client library.
    Db,
    /// The Kafka client library.
    Messaging,
    /// The language runtime's metrics.
    Runtime,
    /// The service's own code (manual spans and meters): scope named after the service.
    App,
    /// The collector's host-metrics scraper of the given kind (`cpu`, `memory`, `network`).
    Host(&'static str),
}

/// Scope name and version of (HTTP, database, Kafka, runtime) instrumentation per language.
type Libraries = [(&'static str, &'static str); 4];

const LIBRARIES: [(&str, Libraries); 6] = [
    (
        "go",
        [
            ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.53.0"),
            ("github.com/XSAM/otelsql", "0.32.0"),
            (
                "go.opentelemetry.io/contrib/instrumentation/github.com/IBM/sarama/otelsarama",
                "0.43.0",
            ),
            ("go.opentelemetry.io/contrib/instrumentation/runtime", "0.53.0"),
        ],
    ),
    (
        "java",
        [
            ("io.opentelemetry.tomcat-10.0", "2.6.0-alpha"),
            ("io.opentelemetry.jdbc", "2.6.0-alpha"),
            ("io.opentelemetry.kafka-clients-2.6", "2.6.0-alpha"),
            ("io.opentelemetry.runtime-telemetry-java17", "2.6.0-alpha"),
        ],
    ),
    (
        "python",
        [
            ("opentelemetry.instrumentation.flask", "0.47b0"),
            ("opentelemetry.instrumentation.psycopg2", "0.47b0"),
            ("opentelemetry.instrumentation.kafka", "0.47b0"),
            ("opentelemetry.instrumentation.system_metrics", "0.47b0"),
        ],
    ),
    (
        "nodejs",
        [
            ("@opentelemetry/instrumentation-http", "0.52.1"),
            ("@opentelemetry/instrumentation-pg", "0.43.0"),
            ("@opentelemetry/instrumentation-kafkajs", "0.2.0"),
            ("@opentelemetry/instrumentation-runtime-node", "0.6.0"),
        ],
    ),
    (
        "dotnet",
        [
            ("OpenTelemetry.Instrumentation.AspNetCore", "1.9.0"),
            ("OpenTelemetry.Instrumentation.StackExchangeRedis", "1.0.0-rc9.15"),
            ("Confluent.Kafka.Extensions.OpenTelemetry", "0.4.0"),
            ("OpenTelemetry.Instrumentation.Runtime", "1.9.0"),
        ],
    ),
    (
        "rust",
        [
            ("opentelemetry-instrumentation-actix-web", "0.22.0"),
            ("tracing-opentelemetry", "0.25.0"),
            ("tracing-opentelemetry", "0.25.0"),
            ("opentelemetry-system-metrics", "0.2.0"),
        ],
    ),
];

/// The one scope of languages whose SDK has no per-library instrumentation here.
fn other(language: &str) -> (&'static str, &'static str) {
    match language {
        "cpp" => ("opentelemetry-cpp", "1.16.1"),
        "php" => ("io.opentelemetry.contrib.php.slim", "1.0.3"),
        "ruby" => ("OpenTelemetry::Instrumentation::Rack", "0.24.6"),
        _ => ("opentelemetry", "1.26.0"),
    }
}

/// Scope name and version of `what` in `service`.
pub fn scope(service: &Service, what: Instrumentation) -> (&'static str, &'static str) {
    let slot = match what {
        Instrumentation::App => return (service.name, service.version),
        Instrumentation::Host(kind) => return host_scraper(kind),
        Instrumentation::Http => 0,
        Instrumentation::Db => 1,
        Instrumentation::Messaging => 2,
        Instrumentation::Runtime => 3,
    };
    LIBRARIES
        .iter()
        .find(|(language, _)| *language == service.language)
        .map_or_else(|| other(service.language), |(_, libraries)| libraries[slot])
}

/// The collector's host-metrics scraper of `kind`.
fn host_scraper(kind: &str) -> (&'static str, &'static str) {
    macro_rules! scraper {
        ($name:literal) => {
            concat!(
                "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/",
                "hostmetricsreceiver/internal/scraper/",
                $name
            )
        };
    }
    let name = match kind {
        "memory" => scraper!("memoryscraper"),
        "network" => scraper!("networkscraper"),
        _ => scraper!("cpuscraper"),
    };
    (name, "0.104.0")
}

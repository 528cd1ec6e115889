//! The imaginary system the generated data describes: an online shop of twenty services, each
//! running three replicas, with the HTTP routes they serve, the services they call, the
//! databases they query and the Kafka topics they publish to or consume from.

use serde_json::json;

/// An inbound HTTP route of a service.
#[derive(Debug)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Route template; `{id}` is replaced by a number in concrete targets.
    pub route: &'static str,
    /// Typical (median) server-side latency in milliseconds.
    pub median_ms: f64,
}

/// The database a service queries.
#[derive(Debug)]
pub struct Database {
    /// `db.system`, e.g. `postgresql`, `redis`.
    pub system: &'static str,
    /// Database name.
    pub name: &'static str,
    /// Tables (or key prefixes) it touches.
    pub tables: &'static [&'static str],
}

/// One service of the fleet.
#[derive(Debug)]
pub struct Service {
    /// `service.name`.
    pub name: &'static str,
    /// `service.version`.
    pub version: &'static str,
    /// `telemetry.sdk.language`.
    pub language: &'static str,
    /// Whether user traffic enters the system here (root spans start here).
    pub entry: bool,
    /// Routes it serves.
    pub routes: &'static [Route],
    /// Services it calls over HTTP.
    pub calls: &'static [&'static str],
    /// Database it queries, if any.
    pub database: Option<Database>,
    /// Topics it publishes to.
    pub publishes: &'static [&'static str],
    /// Topics it consumes.
    pub consumes: &'static [&'static str],
    /// Functions that show up as internal spans and in log lines.
    pub functions: &'static [&'static str],
    /// Typical resident memory in MiB.
    pub memory_mib: f64,
}

const fn route(method: &'static str, route: &'static str, median_ms: f64) -> Route {
    Route { method, route, median_ms }
}

const fn db(
    system: &'static str,
    name: &'static str,
    tables: &'static [&'static str],
) -> Option<Database> {
    Some(Database { system, name, tables })
}

/// The twenty services.
pub static SERVICES: [Service; 20] = [
    Service {
        name: "frontend",
        version: "2.14.3",
        language: "nodejs",
        entry: true,
        routes: &[
            route("GET", "/", 45.0),
            route("GET", "/product/{id}", 60.0),
            route("GET", "/cart", 40.0),
            route("POST", "/cart/checkout", 180.0),
        ],
        calls: &["product-catalog", "cart", "recommendation", "ad", "currency", "checkout"],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["renderPage", "loadSession"],
        memory_mib: 512.0,
    },
    Service {
        name: "api-gateway",
        version: "1.9.0",
        language: "go",
        entry: true,
        routes: &[
            route("GET", "/api/orders", 35.0),
            route("GET", "/api/orders/{id}", 25.0),
            route("POST", "/api/orders", 120.0),
            route("GET", "/api/products", 30.0),
            route("GET", "/api/search", 70.0),
            route("GET", "/api/users/{id}", 20.0),
        ],
        calls: &["auth", "orders", "product-catalog", "search", "user-profile"],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["rateLimit", "authorize"],
        memory_mib: 256.0,
    },
    Service {
        name: "auth",
        version: "3.2.1",
        language: "go",
        entry: false,
        routes: &[route("POST", "/v1/token/verify", 4.0), route("POST", "/v1/login", 90.0)],
        calls: &[],
        database: db("redis", "sessions", &["session"]),
        publishes: &[],
        consumes: &[],
        functions: &["verifyJWT", "hashPassword"],
        memory_mib: 128.0,
    },
    Service {
        name: "user-profile",
        version: "1.4.7",
        language: "java",
        entry: false,
        routes: &[route("GET", "/users/{id}", 12.0), route("PUT", "/users/{id}", 25.0)],
        calls: &[],
        database: db("postgresql", "users", &["users", "addresses"]),
        publishes: &[],
        consumes: &[],
        functions: &["UserService.load", "UserService.update"],
        memory_mib: 1024.0,
    },
    Service {
        name: "product-catalog",
        version: "4.0.2",
        language: "go",
        entry: false,
        routes: &[route("GET", "/products", 15.0), route("GET", "/products/{id}", 6.0)],
        calls: &[],
        database: db("postgresql", "catalog", &["products", "categories", "prices"]),
        publishes: &[],
        consumes: &[],
        functions: &["ListProducts", "GetProduct"],
        memory_mib: 192.0,
    },
    Service {
        name: "search",
        version: "2.1.0",
        language: "java",
        entry: false,
        routes: &[route("GET", "/search", 55.0)],
        calls: &["product-catalog"],
        database: db("elasticsearch", "products", &["products"]),
        publishes: &[],
        consumes: &[],
        functions: &["QueryParser.parse", "Ranker.rank"],
        memory_mib: 2048.0,
    },
    Service {
        name: "recommendation",
        version: "0.18.5",
        language: "python",
        entry: false,
        routes: &[route("GET", "/recommendations", 40.0)],
        calls: &["product-catalog"],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["get_recommendations", "score_candidates"],
        memory_mib: 768.0,
    },
    Service {
        name: "ad",
        version: "1.2.0",
        language: "java",
        entry: false,
        routes: &[route("GET", "/ads", 10.0)],
        calls: &[],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["AdService.getAds"],
        memory_mib: 640.0,
    },
    Service {
        name: "cart",
        version: "2.3.4",
        language: "dotnet",
        entry: false,
        routes: &[
            route("GET", "/cart/{id}", 5.0),
            route("POST", "/cart/{id}/items", 9.0),
            route("DELETE", "/cart/{id}", 7.0),
        ],
        calls: &[],
        database: db("redis", "cart", &["cart"]),
        publishes: &[],
        consumes: &[],
        functions: &["CartStore.Get", "CartStore.Add"],
        memory_mib: 384.0,
    },
    Service {
        name: "checkout",
        version: "3.7.0",
        language: "go",
        entry: false,
        routes: &[route("POST", "/checkout", 150.0)],
        calls: &["cart", "currency", "payment", "shipping", "orders", "inventory"],
        database: None,
        publishes: &["orders"],
        consumes: &[],
        functions: &["PlaceOrder", "prepareOrderItems"],
        memory_mib: 256.0,
    },
    Service {
        name: "payment",
        version: "5.1.2",
        language: "nodejs",
        entry: false,
        routes: &[route("POST", "/charge", 85.0), route("POST", "/refund", 110.0)],
        calls: &["fraud-detection"],
        database: db("postgresql", "payments", &["transactions"]),
        publishes: &["payments"],
        consumes: &[],
        functions: &["charge", "validateCard"],
        memory_mib: 448.0,
    },
    Service {
        name: "fraud-detection",
        version: "0.9.3",
        language: "python",
        entry: false,
        routes: &[route("POST", "/score", 30.0)],
        calls: &[],
        database: None,
        publishes: &[],
        consumes: &["orders"],
        functions: &["score_transaction", "load_model"],
        memory_mib: 1536.0,
    },
    Service {
        name: "currency",
        version: "1.0.8",
        language: "cpp",
        entry: false,
        routes: &[route("GET", "/convert", 2.0), route("GET", "/currencies", 1.5)],
        calls: &[],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["Convert", "GetSupportedCurrencies"],
        memory_mib: 64.0,
    },
    Service {
        name: "shipping",
        version: "2.0.1",
        language: "rust",
        entry: false,
        routes: &[route("POST", "/quote", 20.0), route("POST", "/ship", 45.0)],
        calls: &["quote"],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["get_quote", "ship_order"],
        memory_mib: 96.0,
    },
    Service {
        name: "quote",
        version: "1.1.0",
        language: "php",
        entry: false,
        routes: &[route("POST", "/getquote", 8.0)],
        calls: &[],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["calculateQuote"],
        memory_mib: 128.0,
    },
    Service {
        name: "inventory",
        version: "2.6.0",
        language: "java",
        entry: false,
        routes: &[route("POST", "/reserve", 18.0), route("GET", "/stock/{id}", 6.0)],
        calls: &[],
        database: db("postgresql", "inventory", &["stock", "reservations"]),
        publishes: &[],
        consumes: &["orders"],
        functions: &["InventoryService.reserve", "InventoryService.release"],
        memory_mib: 896.0,
    },
    Service {
        name: "orders",
        version: "4.2.0",
        language: "java",
        entry: false,
        routes: &[
            route("GET", "/orders", 28.0),
            route("GET", "/orders/{id}", 12.0),
            route("POST", "/orders", 60.0),
        ],
        calls: &["inventory"],
        database: db("postgresql", "orders", &["orders", "order_items"]),
        publishes: &["orders"],
        consumes: &[],
        functions: &["OrderService.create", "OrderService.validate"],
        memory_mib: 1280.0,
    },
    Service {
        name: "notification",
        version: "1.3.2",
        language: "go",
        entry: false,
        routes: &[route("POST", "/notify", 15.0)],
        calls: &["email"],
        database: None,
        publishes: &[],
        consumes: &["payments"],
        functions: &["dispatch", "renderTemplate"],
        memory_mib: 160.0,
    },
    Service {
        name: "email",
        version: "1.0.4",
        language: "ruby",
        entry: false,
        routes: &[route("POST", "/send_order_confirmation", 120.0)],
        calls: &[],
        database: None,
        publishes: &[],
        consumes: &[],
        functions: &["send_email", "render_confirmation"],
        memory_mib: 320.0,
    },
    Service {
        name: "accounting",
        version: "0.7.1",
        language: "dotnet",
        entry: false,
        routes: &[route("GET", "/ledger", 35.0)],
        calls: &[],
        database: db("postgresql", "accounting", &["ledger_entries"]),
        publishes: &[],
        consumes: &["orders", "payments"],
        functions: &["Ledger.Record", "Ledger.Reconcile"],
        memory_mib: 512.0,
    },
];

/// The service named `name`; panics on a name not in [`SERVICES`].
pub fn service(name: &str) -> &'static Service {
    SERVICES
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service `{name}` in the fleet"))
}

/// Replicas per service.
pub const REPLICAS: usize = 3;

const POD_SUFFIXES: [&str; REPLICAS] = ["7d9f8b6c4-x2k9p", "7d9f8b6c4-q8wz4", "7d9f8b6c4-m5rjt"];

/// One running replica of a service, with its resource attributes already rendered.
#[derive(Debug)]
pub struct Instance {
    /// The service it runs.
    pub service: &'static Service,
    /// Resource attributes as a JSON object string (the classic layout's column).
    pub resource: String,
    /// Resource attributes as key-value pairs (the SignalDB layout's map column): those of
    /// [`Self::resource`] plus the replica's Kubernetes pod, node and cloud region.
    pub attributes: Vec<(&'static str, String)>,
}

/// Every replica of every service, for one dataset (its `deployment.environment`).
#[derive(Debug)]
pub struct Fleet {
    /// Replicas, service-major.
    pub instances: Vec<Instance>,
    /// Indexes into `instances` of the replicas of entry services.
    entries: Vec<usize>,
}

impl Fleet {
    /// The fleet as deployed in `environment`.
    pub fn new(environment: &str) -> Self {
        let instances = SERVICES
            .iter()
            .flat_map(|service| {
                POD_SUFFIXES.iter().enumerate().map(move |(replica, suffix)| {
                    let host = format!("{}-{suffix}", service.name);
                    let resource = json!({
                        "service.name": service.name,
                        "service.version": service.version,
                        "service.namespace": "shop",
                        "host.name": host,
                        "deployment.environment": environment,
                        "telemetry.sdk.name": "opentelemetry",
                        "telemetry.sdk.language": service.language,
                    })
                    .to_string();
                    let attributes = resource_attributes(service, replica, &host, environment);
                    Instance { service, resource, attributes }
                })
            })
            .collect::<Vec<_>>();
        let entries = (0..instances.len()).filter(|&i| instances[i].service.entry).collect();
        Self { instances, entries }
    }

    /// A random replica of any service.
    pub fn any(&self, rng: &mut impl rand::Rng) -> &Instance {
        super::random::pick(rng, &self.instances)
    }

    /// A random replica of the service named `name`.
    pub fn replica_of(&self, rng: &mut impl rand::Rng, name: &str) -> &Instance {
        let start = SERVICES
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service `{name}` in the fleet"));
        &self.instances[start * REPLICAS + rng.random_range(0..REPLICAS)]
    }

    /// A random replica of a service where user traffic enters.
    pub fn entry(&self, rng: &mut impl rand::Rng) -> &Instance {
        &self.instances[*super::random::pick(rng, &self.entries)]
    }
}

/// The resource attributes of replica `replica` (pod `host`) of `service` in `environment`,
/// as an OpenTelemetry SDK on Kubernetes reports them.
fn resource_attributes(
    service: &Service,
    replica: usize,
    host: &str,
    environment: &str,
) -> Vec<(&'static str, String)> {
    let zone = ["a", "b", "c"][replica % 3];
    vec![
        ("service.name", service.name.to_string()),
        ("service.version", service.version.to_string()),
        ("service.namespace", "shop".to_string()),
        ("service.instance.id", host.to_string()),
        ("host.name", host.to_string()),
        ("deployment.environment", environment.to_string()),
        ("telemetry.sdk.name", "opentelemetry".to_string()),
        ("telemetry.sdk.language", service.language.to_string()),
        ("k8s.namespace.name", "shop".to_string()),
        ("k8s.deployment.name", service.name.to_string()),
        ("k8s.pod.name", host.to_string()),
        (
            "k8s.node.name",
            format!("ip-10-0-{}-{}.eu-west-1.compute.internal", replica + 1, 17 + replica * 40),
        ),
        ("container.name", service.name.to_string()),
        ("cloud.provider", "aws".to_string()),
        ("cloud.region", "eu-west-1".to_string()),
        ("cloud.availability_zone", format!("eu-west-1{zone}")),
    ]
}

/// Services that consume `topic`.
pub fn consumers_of(topic: &str) -> impl Iterator<Item = &'static Service> + '_ {
    SERVICES.iter().filter(move |s| s.consumes.contains(&topic))
}

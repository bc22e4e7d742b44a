//! A deterministic generator of realistic Qlik Cloud OAuth token traffic,
//! with optional injected attacks.
//!
//! [`Simulation`] turns a [`Config`] into CloudEvents, one NDJSON line each,
//! in event-time order; the same configuration gives the same bytes. It
//! serves demonstrations, benchmarks (`tokenwatch simulate --events N`) and
//! end-to-end tests of rule packs: normal traffic should raise next to
//! nothing, and each injected [`Attack`] should be found by the rule named
//! with it. There are no dependencies: a splitmix64 generator seeded from
//! [`Config::seed`] drives every choice, and each day, user and visitor
//! draws from its own seeded stream, so stopping early does not change what
//! came before.
//!
//! # Normal traffic
//!
//! Each tenant has:
//!
//! - **Users** (the first two are administrators). Each has a home region
//!   and time zone (Europe, the Americas or Asia-Pacific, whole-hour
//!   offsets), usual working hours (8 to 10 hours starting at 07:00, 08:00
//!   or 09:00 local time, so fixed hours in UTC), a home /24 network (the
//!   host part changes weekly) and one device: a laptop, or for about one
//!   in five a phone or tablet. The device decides the OAuth client: the
//!   analytics single-page app or the Office add-in for laptops, the mobile
//!   app for phones. A user works on the weekdays of their own time zone
//!   (4% of them off) and on 3% of weekend days. A working day is one
//!   session from one address: an `authorization_code` sign-in in the
//!   first hour, `refresh_token` grants every 40 to 55 minutes until the
//!   last hour (so every usual hour is seen every day), and on three days
//!   in ten a logout at the end (a revocation by bearer of the last grant).
//! - **An embedding portal** holding the user-impersonation grant, calling
//!   from one stable address. About three in ten users reach analytics
//!   through it: up to two visits on their working days, each an
//!   impersonation token (sometimes renewed an hour later), so only a few
//!   distinct users are impersonated in any ten minutes.
//! - **Three back-end services** with `client_credentials` at fixed periods
//!   (10 minutes, 15 minutes, 1 hour, a few seconds of jitter) around the
//!   clock from stable cloud addresses (two for the 10-minute one); one of
//!   them provisions users with `admin_classic`.
//! - **Anonymous embedding** on a public site: visitors (a few to a dozen
//!   an hour, more in the European and American afternoon) from random
//!   IPv4 and IPv6 addresses, each issued one or two anonymous-embed
//!   tokens.
//! - **Leavers and joiners**: every two weeks (from day 9, 10 or 11
//!   depending on the tenant) the second administrator revokes a leaving
//!   user's tokens through the API (`revokedByBearer: false`); the user's
//!   last working day was two days earlier. A replacement with their own
//!   network, device and hours joins a week later.
//!
//! Every client, user, service and address is stable for the whole run.
//! Up to about 200 users per tenant, no client's hourly volume reaches the
//! 50 tokens of the default pack's spike rule; with several hundred, the
//! interactive clients do on the first morning (whose baseline is only the
//! night before), and the portal may impersonate ten users in ten minutes.
//!
//! # Event format
//!
//! Events follow Qlik's documentation of `com.qlik.oauth-token.issued` and
//! `…revoked`. The first tenant (of every three) uses the current spelling
//! `com.qlik.core.oauth-token.*` throughout, with `meta.userAgent`,
//! `traceparent`, `tracestate` and `data.userType` (`bot`, `anonymous`);
//! the second switches from the older spelling to the current one on day
//! 10; the third keeps the older spelling, whose `authclaims` string is
//! escaped a second time as in Qlik's example payloads. `authclaims` is
//! always a JSON object serialised into a string.
//!
//! # Attacks
//!
//! With [`Config::attacks`], [`Simulation::attacks`] lists what is
//! injected: the rule of the default pack expected to find it, the tenant,
//! the time of its first event and the ids of its events. Attacks go to the
//! tenants in turn, on fixed days after the learning periods of the rules
//! they target (the last, a sign-in outside the usual hours, on day 17), so
//! a horizon of 18 days or more injects all of them; an attack that does
//! not fit in the horizon is left out. The impersonation of a watched
//! administrator is injected only with [`Config::watchlist`], for callers
//! that load [`Simulation::admin_watchlist`] into the `admin_watchlist`
//! list.

use std::io::{self, Write};

use serde::Serialize;

/// 2026-03-02T00:00:00Z, a Monday: the default start of the traffic.
pub const DEFAULT_START: i64 = 1_772_409_600;

/// Days a horizon needs for every attack to be injected.
pub const ATTACK_DAYS: u32 = 18;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const MINUTE: i64 = 60;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Seed of the generator: the same configuration gives the same events.
    pub seed: u64,
    /// Start of the traffic, in seconds since the Unix epoch. Days are UTC
    /// calendar days; events before `start` are left out.
    pub start: i64,
    /// Length of the traffic, in days from `start`.
    pub days: u32,
    /// Number of tenants (1 to 1000).
    pub tenants: u32,
    /// Users per tenant (4 to 100000); the first two are administrators.
    pub users: u32,
    /// Whether to inject attacks (see the module documentation).
    pub attacks: bool,
    /// Whether the caller loads [`Simulation::admin_watchlist`] into the
    /// `admin_watchlist` list: only then is the impersonation of a watched
    /// administrator injected.
    pub watchlist: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            start: DEFAULT_START,
            days: 7,
            tenants: 3,
            users: 40,
            attacks: false,
            watchlist: false,
        }
    }
}

/// One injected attack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attack {
    /// The id of the rule (of the default pack) expected to find it.
    pub rule: &'static str,
    /// The tenant it happens in (`tenantid`).
    pub tenant: String,
    /// The time of its first event (RFC 3339).
    pub time: String,
    /// The time of its first event, in seconds since the Unix epoch.
    #[serde(skip)]
    pub start: i64,
    /// The time of its last event, in seconds since the Unix epoch.
    #[serde(skip)]
    pub end: i64,
    /// What happens, in a few words.
    pub description: String,
    /// The ids of its events, in time order.
    pub events: Vec<String>,
}

impl Attack {
    /// The attack as one line of JSON: `rule`, `tenant`, `time`,
    /// `description`, `events`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("attacks always serialise")
    }
}

// ---------------------------------------------------------------------------
// Pseudo-random numbers

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 finaliser: a strong 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of several words, for values that must not depend on the order
/// in which things are generated.
fn hash(parts: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3_u64;
    for &p in parts {
        h = mix(h.wrapping_add(GOLDEN) ^ p);
    }
    h
}

/// splitmix64.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `0..n` seconds.
    fn secs(&mut self, n: i64) -> i64 {
        self.below(n.max(0) as u64) as i64
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// Hash domains, so that different uses of the same numbers differ.
const TAG_TENANT: u64 = 1;
const TAG_USER: u64 = 2;
const TAG_CLIENT: u64 = 3;
const TAG_DAY: u64 = 4;
const TAG_USER_DAY: u64 = 5;
const TAG_WORK: u64 = 6;
const TAG_SESSION: u64 = 7;
const TAG_HOST: u64 = 8;
const TAG_EVENT: u64 = 9;
const TAG_TOKEN: u64 = 10;
const TAG_TRACE: u64 = 11;
const TAG_ATTACK: u64 = 12;
const TAG_VISITOR: u64 = 13;

// ---------------------------------------------------------------------------
// The simulated world

const LAPTOP_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";
const LAPTOP_EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66";
const LAPTOP_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15";
const MOBILE_IOS: &str = "QlikSense/3.14.0 (iPhone; iOS 17.3.1)";
const MOBILE_IPAD: &str = "QlikSense/3.14.0 (iPad; iPadOS 17.3.1)";
const MOBILE_ANDROID: &str = "QlikSense/3.14.0 (Android 14)";
const LINUX_CURL: &str = "python-requests/2.31.0";
const OFFICE_ADDIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Microsoft Outlook 16.0.17328; ms-office; MSOffice 16)";

/// Device types: (name, is a phone or tablet, user agent of its browser or app).
const DEVICES: &[(&str, bool, &str)] = &[
    ("Dell XPS 15", false, LAPTOP_WINDOWS),
    ("Dell Latitude 7440", false, LAPTOP_WINDOWS),
    ("Lenovo ThinkPad X1 Carbon Gen 11", false, LAPTOP_WINDOWS),
    ("Lenovo ThinkPad T14 Gen 4", false, LAPTOP_EDGE),
    ("HP EliteBook 840 G10", false, LAPTOP_EDGE),
    ("Microsoft Surface Laptop 5", false, LAPTOP_EDGE),
    ("Apple MacBook Pro 14", false, LAPTOP_MAC),
    ("Apple MacBook Air 13", false, LAPTOP_MAC),
    ("Apple iPhone 15", true, MOBILE_IOS),
    ("Apple iPhone 14", true, MOBILE_IOS),
    ("Apple iPad Pro 12.9", true, MOBILE_IPAD),
    ("Samsung Galaxy S23", true, MOBILE_ANDROID),
    ("Google Pixel 8", true, MOBILE_ANDROID),
    ("Unknown Linux x86_64", false, LINUX_CURL),
];
const LAPTOPS: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 7];
const MOBILES: &[u8] = &[8, 9, 10, 11, 12];
/// The device type only attacks use.
const ATTACK_DEVICE: u8 = 13;
const NO_DEVICE: u8 = u8::MAX;

const VISITOR_AGENTS: &[&str] = &[
    LAPTOP_WINDOWS,
    LAPTOP_MAC,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
];

/// A region: whole-hour UTC offsets and first octets of its home networks.
struct Region {
    offsets: &'static [i64],
    octets: &'static [u8],
}

const REGIONS: &[Region] = &[
    Region {
        offsets: &[0, 1, 2],
        octets: &[
            31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94,
            95, 109, 145, 151, 176, 178, 188, 212, 213, 217,
        ],
    },
    Region {
        offsets: &[-5, -6, -8],
        octets: &[
            24, 47, 50, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 96, 97, 98, 99, 107,
            108, 173, 174, 184,
        ],
    },
    Region {
        offsets: &[8, 9, 10],
        octets: &[
            1, 14, 27, 36, 39, 42, 49, 58, 59, 60, 61, 101, 110, 112, 114, 116, 118, 119, 121, 124,
            175, 180, 182, 202, 210, 211, 220,
        ],
    },
];
/// Cloud providers' address blocks, for back ends.
const CLOUD_OCTETS: &[u8] = &[3, 13, 18, 20, 34, 35, 40, 52, 54];
/// Where attackers come from (hosting and VPN providers, anywhere).
const HOSTILE_OCTETS: &[u8] = &[5, 23, 45, 91, 103, 138, 141, 146, 154, 167, 185, 193, 194];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Users sign in with authorization code and refresh tokens.
    Interactive,
    /// A back end with client credentials every `period` seconds.
    Service { period: i64 },
    /// An embedding portal with the user-impersonation grant.
    Portal,
    /// Anonymous embedding.
    Anonymous,
    /// A client an attacker registered.
    Rogue,
}

// The clients every tenant has, by index.
const CL_SPA: u16 = 0;
const CL_ADDIN: u16 = 1;
const CL_MOBILE: u16 = 2;
const CL_RELOAD: u16 = 3;
const CL_MONITOR: u16 = 4;
const CL_PROVISION: u16 = 5;
const CL_PORTAL: u16 = 6;
const CL_ANON: u16 = 7;
const CL_ROGUE: u16 = 8;

/// (name, appType, kind, addresses, user agent, scopes)
const CLIENTS: &[(&str, &str, Kind, usize, &str, Scopes)] = &[
    (
        "Analytics app",
        "spa",
        Kind::Interactive,
        0,
        "",
        Scopes::Interactive,
    ),
    (
        "Office add-in",
        "native",
        Kind::Interactive,
        0,
        "",
        Scopes::Interactive,
    ),
    (
        "Qlik Sense Mobile",
        "native",
        Kind::Interactive,
        0,
        "",
        Scopes::Interactive,
    ),
    (
        "Reload orchestrator",
        "web",
        Kind::Service {
            period: 15 * MINUTE,
        },
        1,
        LINUX_CURL,
        Scopes::User,
    ),
    (
        "Monitoring",
        "web",
        Kind::Service {
            period: 10 * MINUTE,
        },
        2,
        "Go-http-client/2.0",
        Scopes::User,
    ),
    (
        "User provisioning",
        "web",
        Kind::Service { period: HOUR },
        1,
        "qlik-cli/2.24.3",
        Scopes::Admin,
    ),
    (
        "Customer portal",
        "web",
        Kind::Portal,
        1,
        "axios/1.6.7",
        Scopes::User,
    ),
    (
        "Public dashboards",
        "web",
        Kind::Anonymous,
        0,
        "",
        Scopes::User,
    ),
    (
        "sync-tool",
        "web",
        Kind::Rogue,
        1,
        "curl/8.5.0",
        Scopes::Admin,
    ),
];

#[derive(Debug)]
struct Client {
    id: String,
    name: &'static str,
    app_type: &'static str,
    kind: Kind,
    addresses: Vec<u32>,
    /// The bot user of a service or portal.
    bot: String,
    agent: &'static str,
    scopes: Scopes,
    /// Offset of a service's schedule within its period.
    phase: i64,
}

#[derive(Debug)]
struct User {
    id: String,
    /// The home /24 network (host byte zero).
    network: u32,
    device: u8,
    client: u16,
    /// UTC offset in hours.
    offset: i64,
    /// Start of the usual hours, in minutes after 00:00 UTC (whole hours).
    start: i64,
    /// Length of the usual hours.
    hours: i64,
    portal: bool,
    /// First and (exclusive) last day of work.
    from_day: i64,
    until_day: i64,
}

#[derive(Debug)]
struct Tenant {
    id: String,
    users: Vec<User>,
    /// The user in each roster position (leavers are replaced in place).
    slots: Vec<usize>,
    clients: Vec<Client>,
    /// Events at or after this time use the `com.qlik.core` spelling.
    current_from: i64,
    /// Peak anonymous visitors per hour.
    visitors: u64,
    leavers: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    AuthorizationCode,
    Refresh,
    ClientCredentials,
    TokenExchange,
    Impersonation,
    AnonymousEmbed,
}

impl Grant {
    fn name(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::Refresh => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
            Grant::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            Grant::Impersonation => "urn:qlik:oauth:user-impersonation",
            Grant::AnonymousEmbed => "urn:qlik:oauth:anonymous-embed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scopes {
    User,
    Interactive,
    Admin,
    UserAndAdmin,
}

impl Scopes {
    fn json(self) -> &'static str {
        match self {
            Scopes::User => r#"["user_default"]"#,
            Scopes::Interactive => r#"["user_default","offline_access"]"#,
            Scopes::Admin => r#"["admin_classic"]"#,
            Scopes::UserAndAdmin => r#"["user_default","admin_classic"]"#,
        }
    }
}

/// Who a token is for (or who acted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Principal {
    /// A user of the tenant, by index.
    User(u32),
    /// The bot user of a client, by client index.
    Bot(u16),
    /// An anonymous visitor.
    Anonymous(u64),
    /// A user of the tenant's directory who never signs in here.
    Dormant(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ip {
    V4(u32),
    V6([u16; 8]),
}

#[derive(Debug, Clone, Copy)]
struct Issue {
    grant: Grant,
    client: u16,
    owner: Principal,
    ip: Ip,
    /// 0: no session.
    session: u64,
    device: u8,
    scopes: Scopes,
    /// `data.tenantId` names another tenant.
    forged: bool,
}

impl Issue {
    /// An anonymous embed token for visitor `v` coming from `ip`.
    fn anonymous_embed(v: u64, ip: Ip) -> Issue {
        Issue {
            grant: Grant::AnonymousEmbed,
            client: CL_ANON,
            owner: Principal::Anonymous(v),
            ip,
            session: v | 1,
            device: NO_DEVICE,
            scopes: Scopes::User,
            forged: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Revoke {
    /// The user who revoked.
    actor: u32,
    ip: Ip,
    session: u64,
    bearer: bool,
    user: Option<Principal>,
    grant: Option<u64>,
    client: Option<u16>,
    tenant: bool,
}

#[derive(Debug, Clone, Copy)]
enum Body {
    Issued(Issue),
    Revoked(Revoke),
}

const NO_ATTACK: u16 = u16::MAX;
/// Sequence numbers of attack events start here, apart from normal ones.
const ATTACK_SEQ: u64 = 1 << 62;

#[derive(Debug, Clone, Copy)]
struct Ev {
    time: i64,
    seq: u64,
    tenant: u16,
    attack: u16,
    body: Body,
}

/// The tenants and everything that does not change from event to event.
#[derive(Debug)]
struct World {
    seed: u64,
    /// Midnight (UTC) of day 0.
    day0: i64,
    tenants: Vec<Tenant>,
}

impl World {
    fn day_start(&self, day: i64) -> i64 {
        self.day0 + day * DAY
    }

    /// The session id (as a number) of a user's working day.
    fn session(&self, tenant: usize, user: usize, day: i64) -> u64 {
        hash(&[
            self.seed,
            TAG_SESSION,
            tenant as u64,
            user as u64,
            day as u64,
        ]) | 1
    }

    /// A user's address on a day: the home network, a host that changes weekly.
    fn user_ip(&self, tenant: usize, user: usize, day: i64) -> Ip {
        let week = day.div_euclid(7);
        let h = hash(&[self.seed, TAG_HOST, tenant as u64, user as u64, week as u64]);
        Ip::V4(self.tenants[tenant].users[user].network | (2 + (h % 250) as u32))
    }

    /// Whether a user works on the day whose usual hours start on UTC day `day`.
    fn works(&self, tenant: usize, user: usize, day: i64) -> bool {
        let u = &self.tenants[tenant].users[user];
        if day < u.from_day || day >= u.until_day {
            return false;
        }
        let local = (self.day_start(day) + u.start * MINUTE + u.offset * HOUR).div_euclid(DAY);
        let weekday = (local + 3).rem_euclid(7); // 1970-01-01 was a Thursday; Monday is 0
        let roll = hash(&[self.seed, TAG_WORK, tenant as u64, user as u64, day as u64]) % 1000;
        if weekday < 5 { roll >= 40 } else { roll < 30 }
    }

    /// Start of a user's usual hours on a day.
    fn usual_start(&self, tenant: usize, user: usize, day: i64) -> i64 {
        self.day_start(day) + self.tenants[tenant].users[user].start * MINUTE
    }

    /// A token for a user, from their usual client, device, address and
    /// session of the day.
    fn user_issue(&self, tenant: usize, user: usize, day: i64, grant: Grant) -> Issue {
        let u = &self.tenants[tenant].users[user];
        Issue {
            grant,
            client: u.client,
            owner: Principal::User(user as u32),
            ip: self.user_ip(tenant, user, day),
            session: self.session(tenant, user, day),
            device: u.device,
            scopes: Scopes::Interactive,
            forged: false,
        }
    }

    fn service_issue(&self, tenant: usize, client: u16, ip: u32) -> Issue {
        let c = &self.tenants[tenant].clients[client as usize];
        Issue {
            grant: Grant::ClientCredentials,
            client,
            owner: Principal::Bot(client),
            ip: Ip::V4(ip),
            session: 0,
            device: NO_DEVICE,
            scopes: c.scopes,
            forged: false,
        }
    }

    fn impersonation(&self, tenant: usize, owner: Principal, scopes: Scopes) -> Issue {
        let portal = &self.tenants[tenant].clients[CL_PORTAL as usize];
        Issue {
            grant: Grant::Impersonation,
            client: CL_PORTAL,
            owner,
            ip: Ip::V4(portal.addresses[0]),
            session: 0,
            device: NO_DEVICE,
            scopes,
            forged: false,
        }
    }
}

fn ipv4(rng: &mut Rng, octets: &[u8]) -> u32 {
    let a = u32::from(rng.pick(octets));
    (a << 24) | ((rng.below(256) as u32) << 16) | ((rng.below(256) as u32) << 8)
}

fn random_id(rng: &mut Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize] as char)
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEXDIGITS: &[u8] = b"0123456789abcdef";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A new user for roster position `slot` (its `generation`-th occupant).
fn new_user(seed: u64, tenant: usize, slot: usize, generation: u64, from_day: i64) -> User {
    let mut rng = Rng::new(hash(&[
        seed,
        TAG_USER,
        tenant as u64,
        slot as u64,
        generation,
    ]));
    let region = match rng.below(10) {
        0..=4 => &REGIONS[0],
        5..=7 => &REGIONS[1],
        _ => &REGIONS[2],
    };
    let offset = rng.pick(region.offsets);
    let local_start = 7 + rng.below(3) as i64;
    let start = (local_start - offset).rem_euclid(24) * 60;
    let hours = 8 + rng.below(3) as i64;
    // The first positions cover every interactive client, so that each is
    // in use from the first day.
    let mobile = match slot {
        2 => true,
        3 | 4 => false,
        _ => rng.chance(200),
    };
    let device = if mobile {
        rng.pick(MOBILES)
    } else {
        rng.pick(LAPTOPS)
    };
    let client = match (mobile, slot) {
        (true, _) => CL_MOBILE,
        (false, 3) => CL_SPA,
        (false, 4) => CL_ADDIN,
        (false, _) => rng.pick(&[CL_SPA, CL_ADDIN]),
    };
    User {
        id: random_id(&mut rng, HEXDIGITS, 24),
        network: ipv4(&mut rng, region.octets),
        device,
        client,
        offset,
        start,
        hours,
        portal: slot >= 2 && rng.chance(300),
        from_day,
        until_day: i64::MAX,
    }
}

fn new_tenant(seed: u64, index: usize, users: usize, day0: i64) -> Tenant {
    let mut rng = Rng::new(hash(&[seed, TAG_TENANT, index as u64]));
    let id = random_id(&mut rng, ALNUM, 32);
    let clients = CLIENTS
        .iter()
        .enumerate()
        .map(|(c, &(name, app_type, kind, addresses, agent, scopes))| {
            let mut rng = Rng::new(hash(&[seed, TAG_CLIENT, index as u64, c as u64]));
            let network = ipv4(&mut rng, CLOUD_OCTETS);
            let addresses = (0..addresses)
                .map(|_| network | (4 + rng.below(200) as u32))
                .collect();
            let period = match kind {
                Kind::Service { period } => period,
                _ => 1,
            };
            Client {
                id: random_id(&mut rng, HEXDIGITS, 32),
                name,
                app_type,
                kind,
                addresses,
                bot: random_id(&mut rng, HEXDIGITS, 24),
                agent,
                scopes,
                phase: rng.secs(period),
            }
        })
        .collect();
    let current_from = match index % 3 {
        0 => i64::MIN,
        1 => day0 + 10 * DAY,
        _ => i64::MAX,
    };
    Tenant {
        id,
        users: (0..users)
            .map(|slot| new_user(seed, index, slot, 0, 0))
            .collect(),
        slots: (0..users).collect(),
        clients,
        current_from,
        visitors: [4, 6, 3][index % 3],
        leavers: 0,
    }
}

/// Relative anonymous traffic by hour of the day (UTC), out of 10.
const VISITOR_HOURS: [u64; 24] = [
    2, 2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2,
];

// ---------------------------------------------------------------------------
// The generator

/// A running simulation: an iterator of NDJSON event lines (without the
/// line break), in event-time order.
///
/// ```
/// use tokenwatch::simulate::{Config, Simulation};
///
/// let config = Config { days: 2, tenants: 1, users: 6, ..Config::default() };
/// let lines: Vec<String> = Simulation::new(config.clone()).unwrap().collect();
/// assert!(lines.len() > 500);
/// assert!(lines[0].starts_with(r#"{"id":""#));
/// // Deterministic: the same configuration gives the same events.
/// assert_eq!(lines, Simulation::new(config).unwrap().collect::<Vec<_>>());
/// ```
#[derive(Debug)]
pub struct Simulation {
    config: Config,
    world: World,
    start: i64,
    end: i64,
    attacks: Vec<Attack>,
    /// How many events of each attack were handed out.
    emitted: Vec<usize>,
    /// Attack events not yet merged, in time order.
    pending_attacks: Vec<Ev>,
    next_attack: usize,
    /// The next day to generate.
    day: i64,
    /// Events of the days generated so far, sorted; `ready[pos..]` are due.
    ready: Vec<Ev>,
    pos: usize,
    /// Events past the end of the last generated day.
    carry: Vec<Ev>,
    seq: u64,
}

impl Simulation {
    /// Sets up the tenants, users and clients, and plans the attacks.
    pub fn new(config: Config) -> Result<Simulation, String> {
        if !(1..=1000).contains(&config.tenants) {
            return Err(format!("tenants must be 1 to 1000, not {}", config.tenants));
        }
        if !(4..=100_000).contains(&config.users) {
            return Err(format!("users must be 4 to 100000, not {}", config.users));
        }
        if config.days == 0 {
            return Err("days must be at least 1".into());
        }
        let day0 = config.start.div_euclid(DAY) * DAY;
        let world = World {
            seed: config.seed,
            day0,
            tenants: (0..config.tenants as usize)
                .map(|t| new_tenant(config.seed, t, config.users as usize, day0))
                .collect(),
        };
        let end = config
            .start
            .saturating_add(i64::from(config.days).saturating_mul(DAY));
        let mut sim = Simulation {
            start: config.start,
            end,
            config,
            world,
            attacks: Vec::new(),
            emitted: Vec::new(),
            pending_attacks: Vec::new(),
            next_attack: 0,
            day: 0,
            ready: Vec::new(),
            pos: 0,
            carry: Vec::new(),
            seq: 0,
        };
        if sim.config.attacks {
            sim.plan_attacks();
        }
        Ok(sim)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tenant ids, in order.
    pub fn tenants(&self) -> Vec<String> {
        self.world.tenants.iter().map(|t| t.id.clone()).collect()
    }

    /// The administrators of every tenant (user ids): the items for the
    /// `admin_watchlist` list.
    pub fn admin_watchlist(&self) -> Vec<String> {
        self.world
            .tenants
            .iter()
            .flat_map(|t| t.users[..2].iter().map(|u| u.id.clone()))
            .collect()
    }

    /// Every planned attack, in time order (empty without
    /// [`Config::attacks`]).
    pub fn attacks(&self) -> &[Attack] {
        &self.attacks
    }

    /// The attacks whose events have all been handed out so far (all of
    /// them once the simulation has run to its end).
    pub fn emitted_attacks(&self) -> impl Iterator<Item = &Attack> {
        self.attacks
            .iter()
            .zip(&self.emitted)
            .filter(|(a, n)| a.events.len() == **n)
            .map(|(a, _)| a)
    }

    /// Appends the next event as one line of JSON (without a line break) to
    /// `out`; false at the end of the traffic.
    pub fn next_line(&mut self, out: &mut String) -> bool {
        match self.next_event() {
            Some(ev) => {
                self.render(&ev, out);
                true
            }
            None => false,
        }
    }

    /// Writes events as NDJSON to `writer` (buffer it), at most `limit` of
    /// them; returns how many were written.
    pub fn write_ndjson<W: Write>(&mut self, mut writer: W, limit: Option<u64>) -> io::Result<u64> {
        let mut line = String::with_capacity(2048);
        let mut written = 0;
        while limit.is_none_or(|limit| written < limit) {
            line.clear();
            if !self.next_line(&mut line) {
                break;
            }
            line.push('\n');
            writer.write_all(line.as_bytes())?;
            written += 1;
        }
        writer.flush()?;
        Ok(written)
    }

    fn next_event(&mut self) -> Option<Ev> {
        loop {
            if let Some(&ev) = self.ready.get(self.pos) {
                self.pos += 1;
                if ev.attack != NO_ATTACK {
                    self.emitted[ev.attack as usize] += 1;
                }
                return Some(ev);
            }
            if self.world.day_start(self.day) >= self.end {
                return None;
            }
            self.fill_day();
        }
    }

    /// Generates the next day, and makes ready every event before its end.
    fn fill_day(&mut self) {
        let day = self.day;
        self.day += 1;
        let day_end = self.world.day_start(day + 1);
        let mut batch = std::mem::take(&mut self.carry);
        for tenant in 0..self.world.tenants.len() {
            self.tenant_day(tenant, day, &mut batch);
        }
        while let Some(ev) = self.pending_attacks.get(self.next_attack) {
            if ev.time >= day_end {
                break;
            }
            batch.push(*ev);
            self.next_attack += 1;
        }
        batch.sort_unstable_by_key(|ev| (ev.time, ev.seq));
        let cut = batch.partition_point(|ev| ev.time < day_end);
        self.carry = batch.split_off(cut);
        let (start, end) = (self.start, self.end);
        batch.retain(|ev| ev.time >= start && ev.time < end);
        self.ready = batch;
        self.pos = 0;
    }

    fn push(&mut self, batch: &mut Vec<Ev>, tenant: usize, time: i64, body: Body) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        batch.push(Ev {
            time,
            seq,
            tenant: tenant as u16,
            attack: NO_ATTACK,
            body,
        });
        seq
    }

    fn tenant_day(&mut self, tenant: usize, day: i64, batch: &mut Vec<Ev>) {
        let seed = self.world.seed;
        let day_start = self.world.day_start(day);
        let mut rng = Rng::new(hash(&[seed, TAG_DAY, tenant as u64, day as u64]));
        self.leaver(tenant, day, batch);
        for user in 0..self.world.tenants[tenant].users.len() {
            if self.world.works(tenant, user, day) {
                self.user_day(tenant, user, day, batch);
            }
        }
        // Back ends, around the clock.
        for client in [CL_RELOAD, CL_MONITOR, CL_PROVISION] {
            let c = &self.world.tenants[tenant].clients[client as usize];
            let Kind::Service { period } = c.kind else {
                continue;
            };
            let (phase, addresses) = (c.phase, c.addresses.clone());
            let mut k = 0;
            while phase + k * period < DAY {
                let time = day_start + phase + k * period + rng.secs(21) - 10;
                let ip = addresses[(k as usize + day as usize) % addresses.len()];
                let issue = self.world.service_issue(tenant, client, ip);
                self.push(batch, tenant, time, Body::Issued(issue));
                k += 1;
            }
        }
        // Anonymous visitors of the public site.
        let visitors = self.world.tenants[tenant].visitors;
        for (hour, weight) in VISITOR_HOURS.iter().enumerate() {
            let n = rng.below(2 * visitors * weight / 10 + 1);
            for i in 0..n {
                let v = hash(&[seed, TAG_VISITOR, tenant as u64, day as u64, hour as u64, i]);
                let mut vr = Rng::new(v);
                let ip = if vr.chance(250) {
                    let mut groups = [0u16; 8];
                    groups[0] = 0x2a00 | vr.below(0x100) as u16;
                    for g in &mut groups[1..] {
                        *g = vr.below(0x10000) as u16;
                    }
                    Ip::V6(groups)
                } else {
                    let region = &REGIONS[vr.below(3) as usize];
                    Ip::V4(ipv4(&mut vr, region.octets) | (1 + vr.below(254) as u32))
                };
                let issue = Issue::anonymous_embed(v, ip);
                let mut time = day_start + hour as i64 * HOUR + vr.secs(HOUR);
                self.push(batch, tenant, time, Body::Issued(issue));
                if vr.chance(300) {
                    time += MINUTE + vr.secs(14 * MINUTE);
                    self.push(batch, tenant, time, Body::Issued(issue));
                }
            }
        }
    }

    /// Every two weeks an administrator revokes a leaver's tokens; a
    /// replacement joins a week later.
    fn leaver(&mut self, tenant: usize, day: i64, batch: &mut Vec<Ev>) {
        let first = 9 + (tenant % 3) as i64;
        if day < first || (day - first) % 14 != 0 {
            return;
        }
        let seed = self.world.seed;
        let t = &mut self.world.tenants[tenant];
        let positions = t.slots.len() - 2;
        let slot = t.slots.len() - 1 - (t.leavers as usize % positions);
        t.leavers += 1;
        let leaver = t.slots[slot];
        // The last working day was two days ago.
        t.users[leaver].until_day = t.users[leaver].until_day.min(day - 1);
        let mut joiner = new_user(seed, tenant, slot, t.leavers, day + 7);
        // A joiner uses one of the clients the tenant's users already use.
        let mut rng = Rng::new(hash(&[
            seed,
            TAG_USER,
            tenant as u64,
            slot as u64,
            t.leavers,
            1,
        ]));
        let model = rng.below(t.users.len() as u64) as usize;
        joiner.client = t.users[model].client;
        joiner.device = if joiner.client == CL_MOBILE {
            rng.pick(MOBILES)
        } else {
            rng.pick(LAPTOPS)
        };
        t.users.push(joiner);
        t.slots[slot] = t.users.len() - 1;
        let admin = t.slots[1];
        let time = self.world.usual_start(tenant, admin, day) + 2 * HOUR + rng.secs(2 * HOUR);
        let revoke = Revoke {
            actor: admin as u32,
            ip: self.world.user_ip(tenant, admin, day),
            session: self.world.session(tenant, admin, day),
            bearer: false,
            user: Some(Principal::User(leaver as u32)),
            grant: None,
            client: None,
            tenant: true,
        };
        self.push(batch, tenant, time, Body::Revoked(revoke));
    }

    /// One working day of a user: sign-in, refreshes, maybe a logout, and
    /// visits to the embedding portal.
    fn user_day(&mut self, tenant: usize, user: usize, day: i64, batch: &mut Vec<Ev>) {
        let seed = self.world.seed;
        let mut rng = Rng::new(hash(&[
            seed,
            TAG_USER_DAY,
            tenant as u64,
            user as u64,
            day as u64,
        ]));
        let (hours, portal, client) = {
            let u = &self.world.tenants[tenant].users[user];
            (u.hours, u.portal, u.client)
        };
        let usual = self.world.usual_start(tenant, user, day);
        let first = usual + rng.secs(HOUR);
        let end = (usual + (hours - 1) * HOUR + rng.secs(HOUR)).max(first + HOUR);
        let sign_in = self
            .world
            .user_issue(tenant, user, day, Grant::AuthorizationCode);
        let mut last = self.push(batch, tenant, first, Body::Issued(sign_in));
        let refresh = Issue {
            grant: Grant::Refresh,
            ..sign_in
        };
        let mut time = first;
        let mut last_time = first;
        loop {
            time += 40 * MINUTE + rng.secs(15 * MINUTE);
            if time > end - 2 * MINUTE {
                break;
            }
            last = self.push(batch, tenant, time, Body::Issued(refresh));
            last_time = time;
        }
        if end - last_time >= 2 * MINUTE {
            last = self.push(batch, tenant, end, Body::Issued(refresh));
        }
        if rng.chance(300) {
            let logout = Revoke {
                actor: user as u32,
                ip: sign_in.ip,
                session: sign_in.session,
                bearer: true,
                user: Some(Principal::User(user as u32)),
                grant: Some(hash(&[seed, TAG_TOKEN, last])),
                client: Some(client),
                tenant: true,
            };
            let time = end + MINUTE + rng.secs(10 * MINUTE);
            self.push(batch, tenant, time, Body::Revoked(logout));
        }
        if portal {
            let visit =
                self.world
                    .impersonation(tenant, Principal::User(user as u32), Scopes::User);
            for _ in 0..rng.below(3) {
                let time = first + rng.secs(end - first);
                self.push(batch, tenant, time, Body::Issued(visit));
                if rng.chance(300) && time + HOUR < end {
                    let again = time + 50 * MINUTE + rng.secs(10 * MINUTE);
                    self.push(batch, tenant, again, Body::Issued(visit));
                }
            }
        }
    }

    // -----------------------------------------------------------------------
    // Attacks

    fn plan_attacks(&mut self) {
        let mut events: Vec<Ev> = Vec::new();
        let mut planned = 0usize;
        for (k, &(rule, day)) in PLAN.iter().enumerate() {
            if rule == "impersonation-of-watched-admin" && !self.config.watchlist {
                continue;
            }
            let tenant = k % self.world.tenants.len();
            let mut rng = Rng::new(hash(&[self.world.seed, TAG_ATTACK, k as u64]));
            let (description, bodies) = self.attack(rule, tenant, day, k, &mut rng);
            let (Some(&(start, _)), Some(&(end, _))) = (bodies.first(), bodies.last()) else {
                continue;
            };
            if start < self.start || end >= self.end {
                continue;
            }
            let index = self.attacks.len() as u16;
            let mut ids = Vec::with_capacity(bodies.len());
            for (time, body) in bodies {
                let seq = ATTACK_SEQ + (planned as u64);
                planned += 1;
                let mut id = String::with_capacity(36);
                push_uuid(&mut id, self.world.seed, seq);
                ids.push(id);
                events.push(Ev {
                    time,
                    seq,
                    tenant: tenant as u16,
                    attack: index,
                    body,
                });
            }
            let mut time = String::with_capacity(20);
            push_time(&mut time, start);
            self.attacks.push(Attack {
                rule,
                tenant: self.world.tenants[tenant].id.clone(),
                time,
                start,
                end,
                description,
                events: ids,
            });
        }
        events.sort_unstable_by_key(|ev| (ev.time, ev.seq));
        // Attacks listed in time order, their events' indices following.
        let mut order: Vec<usize> = (0..self.attacks.len()).collect();
        order.sort_by_key(|&i| (self.attacks[i].start, i));
        let mut rank = vec![0u16; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new as u16;
        }
        for ev in &mut events {
            ev.attack = rank[ev.attack as usize];
        }
        let mut attacks: Vec<Option<Attack>> = self.attacks.drain(..).map(Some).collect();
        self.attacks = order
            .iter()
            .map(|&i| attacks[i].take().expect("each once"))
            .collect();
        self.emitted = vec![0; self.attacks.len()];
        self.pending_attacks = events;
    }

    /// A victim for attack `k`: a user who is not an administrator, is not
    /// the first leaver, and worked on one of the first two days (so the
    /// per-user rules have been learning since then).
    fn victim(&self, tenant: usize, k: usize) -> usize {
        let slots = self.world.tenants[tenant].slots.len();
        let candidates = slots - 3; // positions 2 ..= slots - 2
        (0..candidates)
            .map(|i| 2 + (k * 5 + i) % candidates)
            .find(|&u| self.world.works(tenant, u, 0) || self.world.works(tenant, u, 1))
            .unwrap_or(2)
    }

    /// Another user, different from `other` and from the security
    /// administrator (the tenant administrator when the roster is small).
    fn second_victim(&self, tenant: usize, other: usize) -> usize {
        let slots = self.world.tenants[tenant].slots.len();
        let candidates = slots - 3;
        (1..=candidates)
            .map(|i| 2 + (other - 2 + i) % candidates)
            .find(|&u| u != other)
            .unwrap_or(1)
    }

    /// A time during a user's usual hours on `day`, two to four hours in.
    fn during_work(&self, tenant: usize, user: usize, day: i64, rng: &mut Rng) -> i64 {
        self.world.usual_start(tenant, user, day) + 2 * HOUR + rng.secs(2 * HOUR)
    }

    fn hostile_ip(rng: &mut Rng) -> Ip {
        Ip::V4(ipv4(rng, HOSTILE_OCTETS) | (1 + rng.below(254) as u32))
    }

    /// The description and events of one attack.
    fn attack(
        &self,
        rule: &'static str,
        tenant: usize,
        day: i64,
        k: usize,
        rng: &mut Rng,
    ) -> (String, Vec<(i64, Body)>) {
        let w = &self.world;
        let t = &w.tenants[tenant];
        let office = w.day_start(day) + 10 * HOUR + rng.secs(2 * HOUR);
        let victim = self.victim(tenant, k);
        let vid = &t.users[victim].id;
        let at_work = self.during_work(tenant, victim, day, rng);
        let issued = |time: i64, issue: Issue| (time, Body::Issued(issue));
        let mut events = Vec::new();
        let description = match rule {
            "envelope-tenant-mismatch" => {
                let issue = Issue {
                    forged: true,
                    ..w.user_issue(tenant, victim, day, Grant::Refresh)
                };
                events.push(issued(at_work, issue));
                format!("forged token event for user {vid} carrying another tenant's id")
            }
            "token-burst-per-client" => {
                let c = &t.clients[CL_MONITOR as usize];
                let issue = w.service_issue(tenant, CL_MONITOR, c.addresses[0]);
                for i in 0..150 {
                    events.push(issued(office + i * 8 / 5, issue));
                }
                format!(
                    "client {} ({}) issued 150 tokens in 4 minutes",
                    c.id, c.name
                )
            }
            "token-exchange-not-allowed" => {
                let issue = Issue {
                    grant: Grant::TokenExchange,
                    client: CL_SPA,
                    device: NO_DEVICE,
                    ..w.user_issue(tenant, victim, day, Grant::TokenExchange)
                };
                events.push(issued(at_work, issue));
                format!(
                    "client {} exchanged a token for user {vid}",
                    t.clients[CL_SPA as usize].id
                )
            }
            "token-spike-per-client" => {
                let c = &t.clients[CL_RELOAD as usize];
                let issue = w.service_issue(tenant, CL_RELOAD, c.addresses[0]);
                for i in 0..70 {
                    events.push(issued(office + i * 43, issue));
                }
                format!(
                    "client {} ({}) issued 70 extra tokens within 50 minutes, against 4 an hour",
                    c.id, c.name
                )
            }
            "client-new-grant-type" => {
                let c = &t.clients[CL_PORTAL as usize];
                let issue = w.service_issue(tenant, CL_PORTAL, c.addresses[0]);
                events.push(issued(office, issue));
                events.push(issued(office + MINUTE, issue));
                format!(
                    "impersonation client {} ({}) minted client-credentials tokens",
                    c.id, c.name
                )
            }
            "token-burst-per-user" => {
                let issue = w.user_issue(tenant, victim, day, Grant::Refresh);
                for i in 0..60 {
                    events.push(issued(at_work + i * 9, issue));
                }
                format!("60 refresh-token grants for user {vid} in 9 minutes")
            }
            "impersonation-admin-scope" => {
                let issue =
                    w.impersonation(tenant, Principal::User(victim as u32), Scopes::UserAndAdmin);
                events.push(issued(at_work, issue));
                format!("portal impersonated user {vid} with admin_classic")
            }
            "revocation-of-other-user-via-api" => {
                let actor = self.second_victim(tenant, victim);
                let target = t.slots[0];
                let revoke = Revoke {
                    actor: actor as u32,
                    ip: w.user_ip(tenant, actor, day),
                    session: w.session(tenant, actor, day),
                    bearer: false,
                    user: Some(Principal::User(target as u32)),
                    grant: None,
                    client: None,
                    tenant: true,
                };
                events.push((
                    self.during_work(tenant, actor, day, rng),
                    Body::Revoked(revoke),
                ));
                format!(
                    "user {} revoked the security administrator {}'s tokens through the API",
                    t.users[actor].id, t.users[target].id
                )
            }
            "impersonation-of-watched-admin" => {
                let admin = t.slots[1];
                let issue = w.impersonation(tenant, Principal::User(admin as u32), Scopes::User);
                events.push(issued(office, issue));
                format!("portal impersonated administrator {}", t.users[admin].id)
            }
            "anonymous-embed-farming" => {
                let ip = Self::hostile_ip(rng);
                for i in 0..80u64 {
                    let v = hash(&[w.seed, TAG_ATTACK, TAG_VISITOR, k as u64, i]);
                    let issue = Issue::anonymous_embed(v, ip);
                    events.push(issued(office + i as i64 * 6, issue));
                }
                format!("80 anonymous-embed tokens for {} in 8 minutes", ip_text(ip))
            }
            "impersonation-fanout" => {
                let active: Vec<usize> = t.slots[2..].to_vec();
                for i in 0..30usize {
                    let owner = match active.get(i) {
                        Some(&u) => Principal::User(u as u32),
                        None => Principal::Dormant(hash(&[w.seed, TAG_ATTACK, k as u64, i as u64])),
                    };
                    let issue = w.impersonation(tenant, owner, Scopes::User);
                    events.push(issued(office + i as i64 * 12, issue));
                }
                "portal impersonated 30 users in 6 minutes".to_string()
            }
            "privileged-grant-from-new-address" => {
                let ip = Self::hostile_ip(rng);
                let Ip::V4(v4) = ip else { unreachable!() };
                let c = &t.clients[CL_MONITOR as usize];
                for i in 0..3 {
                    events.push(issued(
                        office + i * 40,
                        w.service_issue(tenant, CL_MONITOR, v4),
                    ));
                }
                format!(
                    "client {} ({}) used its secret from {}",
                    c.id,
                    c.name,
                    ip_text(ip)
                )
            }
            "user-token-from-new-network" => {
                let ip = Self::hostile_ip(rng);
                let session = hash(&[w.seed, TAG_ATTACK, TAG_SESSION, k as u64]) | 1;
                let sign_in = Issue {
                    ip,
                    session,
                    ..w.user_issue(tenant, victim, day, Grant::AuthorizationCode)
                };
                let refresh = Issue {
                    grant: Grant::Refresh,
                    ..sign_in
                };
                events.push(issued(at_work, sign_in));
                events.push(issued(at_work + 45 * MINUTE, refresh));
                format!("user {vid} signed in from {}", ip_text(ip))
            }
            "new-client-in-tenant" => {
                let ip = Self::hostile_ip(rng);
                let Ip::V4(v4) = ip else { unreachable!() };
                let c = &t.clients[CL_ROGUE as usize];
                for i in 0..3 {
                    let issue = w.service_issue(tenant, CL_ROGUE, v4);
                    events.push(issued(office + i * 5 * MINUTE, issue));
                }
                format!(
                    "unknown client {} minted admin tokens from {}",
                    c.id,
                    ip_text(ip)
                )
            }
            "new-device-type-for-user" => {
                let issue = Issue {
                    client: CL_SPA,
                    device: ATTACK_DEVICE,
                    session: hash(&[w.seed, TAG_ATTACK, TAG_SESSION, k as u64]) | 1,
                    ..w.user_issue(tenant, victim, day, Grant::AuthorizationCode)
                };
                events.push(issued(at_work, issue));
                format!(
                    "user {vid} signed in on {} from their usual network",
                    DEVICES[ATTACK_DEVICE as usize].0
                )
            }
            "session-from-several-addresses" => {
                let home = w.user_issue(tenant, victim, day, Grant::Refresh);
                let (a, b) = (Self::hostile_ip(rng), Self::hostile_ip(rng));
                events.push(issued(at_work, home));
                events.push(issued(at_work + 5 * MINUTE, Issue { ip: a, ..home }));
                events.push(issued(at_work + 12 * MINUTE, Issue { ip: b, ..home }));
                format!(
                    "session of user {vid} refreshed from {} and {} besides home",
                    ip_text(a),
                    ip_text(b)
                )
            }
            "mass-revocation-by-actor" => {
                let admin = t.slots[1];
                let ip = Self::hostile_ip(rng);
                let targets: Vec<usize> = t.slots.iter().copied().filter(|&u| u != admin).collect();
                for i in 0..25usize {
                    let revoke = Revoke {
                        actor: admin as u32,
                        ip,
                        session: hash(&[w.seed, TAG_ATTACK, TAG_SESSION, k as u64]) | 1,
                        bearer: false,
                        user: Some(Principal::User(targets[i % targets.len()] as u32)),
                        grant: None,
                        client: None,
                        tenant: true,
                    };
                    events.push((office + i as i64 * 12, Body::Revoked(revoke)));
                }
                format!(
                    "administrator {} revoked 25 users' tokens in 5 minutes from {}",
                    t.users[admin].id,
                    ip_text(ip)
                )
            }
            "broad-revocation-context" => {
                let admin = t.slots[1];
                let revoke = Revoke {
                    actor: admin as u32,
                    ip: Self::hostile_ip(rng),
                    session: hash(&[w.seed, TAG_ATTACK, TAG_SESSION, k as u64]) | 1,
                    bearer: false,
                    user: None,
                    grant: None,
                    client: Some(CL_SPA),
                    tenant: true,
                };
                events.push((office, Body::Revoked(revoke)));
                format!(
                    "every token of client {} revoked by {}",
                    t.clients[CL_SPA as usize].id, t.users[admin].id
                )
            }
            "revoked-by-other-then-reissued" => {
                let actor = self.second_victim(tenant, victim);
                let ip = Self::hostile_ip(rng);
                let revoke = Revoke {
                    actor: actor as u32,
                    ip,
                    session: hash(&[w.seed, TAG_ATTACK, TAG_SESSION, k as u64]) | 1,
                    bearer: false,
                    user: Some(Principal::User(victim as u32)),
                    grant: None,
                    client: None,
                    tenant: true,
                };
                events.push((at_work, Body::Revoked(revoke)));
                let sign_in = Issue {
                    ip,
                    session: hash(&[w.seed, TAG_ATTACK, TAG_SESSION, k as u64, 2]) | 1,
                    ..w.user_issue(tenant, victim, day, Grant::AuthorizationCode)
                };
                events.push(issued(at_work + 15 * MINUTE, sign_in));
                format!(
                    "user {}'s account revoked user {vid}'s tokens, then signed in as them from {}",
                    t.users[actor].id,
                    ip_text(ip)
                )
            }
            "refresh-after-revocation" => {
                let refresh = w.user_issue(tenant, victim, day, Grant::Refresh);
                let logout = Revoke {
                    actor: victim as u32,
                    ip: refresh.ip,
                    session: refresh.session,
                    bearer: true,
                    user: Some(Principal::User(victim as u32)),
                    grant: Some(hash(&[w.seed, TAG_ATTACK, TAG_TOKEN, k as u64])),
                    client: Some(refresh.client),
                    tenant: true,
                };
                events.push((at_work, Body::Revoked(logout)));
                events.push(issued(at_work + 3 * MINUTE, refresh));
                format!("refresh token of user {vid} used 3 minutes after they logged out")
            }
            "issuance-outside-usual-hours" => {
                let u = &t.users[victim];
                let hour = (u.start / 60 + 19) % 24; // five hours before their day starts
                let time = w.day_start(day) + hour * HOUR + rng.secs(45 * MINUTE);
                let issue = Issue {
                    session: hash(&[w.seed, TAG_ATTACK, TAG_SESSION, k as u64]) | 1,
                    ..w.user_issue(tenant, victim, day, Grant::AuthorizationCode)
                };
                events.push(issued(time, issue));
                format!(
                    "user {vid} signed in at {hour:02}:xx UTC, five hours before their usual start"
                )
            }
            _ => unreachable!("every planned rule has an attack"),
        };
        (description, events)
    }

    // -----------------------------------------------------------------------
    // Rendering

    fn principal_id<'a>(
        &'a self,
        tenant: &'a Tenant,
        p: Principal,
        scratch: &'a mut String,
    ) -> &'a str {
        match p {
            Principal::User(u) => &tenant.users[u as usize].id,
            Principal::Bot(c) => &tenant.clients[c as usize].bot,
            Principal::Anonymous(h) | Principal::Dormant(h) => {
                scratch.clear();
                push_hex(scratch, h, 16);
                push_hex(scratch, mix(h) >> 32, 8);
                scratch
            }
        }
    }

    fn render(&self, ev: &Ev, out: &mut String) {
        let seed = self.world.seed;
        let tenant = &self.world.tenants[ev.tenant as usize];
        let current = ev.time >= tenant.current_from;
        let mut scratch = String::new();
        out.push_str("{\"id\":\"");
        push_uuid(out, seed, ev.seq);
        out.push_str("\",\"time\":\"");
        push_time(out, ev.time);
        out.push_str("\",\"type\":\"");
        out.push_str(match (&ev.body, current) {
            (Body::Issued(_), true) => "com.qlik.core.oauth-token.issued",
            (Body::Issued(_), false) => "com.qlik.oauth-token.issued",
            (Body::Revoked(_), true) => "com.qlik.core.oauth-token.revoked",
            (Body::Revoked(_), false) => "com.qlik.oauth-token.revoked",
        });
        out.push_str(
            "\",\"source\":\"com.qlik/oauth\",\"specversion\":\"1.0\",\"datacontenttype\":\"application/json\",\"userid\":\"",
        );
        // Who acted, from where, in which session, with which agent.
        let (actor, ip, session, agent) = match &ev.body {
            Body::Issued(i) => {
                let actor = match i.grant {
                    Grant::Impersonation => Principal::Bot(i.client),
                    _ => i.owner,
                };
                let client = &tenant.clients[i.client as usize];
                let agent = match (i.owner, i.device) {
                    (Principal::Anonymous(h), _) => {
                        VISITOR_AGENTS[(h % VISITOR_AGENTS.len() as u64) as usize]
                    }
                    (_, NO_DEVICE) => client.agent,
                    (_, _) if i.client == CL_ADDIN => OFFICE_ADDIN,
                    (_, device) => DEVICES[device as usize].2,
                };
                (actor, i.ip, i.session, agent)
            }
            Body::Revoked(r) => {
                let u = &tenant.users[r.actor as usize];
                (
                    Principal::User(r.actor),
                    r.ip,
                    r.session,
                    DEVICES[u.device as usize].2,
                )
            }
        };
        let actor_id = self.principal_id(tenant, actor, &mut scratch);
        out.push_str(actor_id);
        let (authtype, subtype) = match actor {
            Principal::User(_) | Principal::Dormant(_) => ("user", "user"),
            Principal::Bot(_) => ("service_account", "client"),
            Principal::Anonymous(_) => ("anonymous", "anonymous"),
        };
        out.push_str("\",\"authtype\":\"");
        out.push_str(authtype);
        out.push_str("\",\"originip\":\"");
        push_ip(out, ip);
        out.push_str("\",\"tenantid\":\"");
        out.push_str(&tenant.id);
        if session != 0 {
            out.push_str("\",\"sessionid\":\"");
            let mut s = session;
            for i in 0..32 {
                if i % 10 == 0 {
                    s = mix(s.wrapping_add(GOLDEN));
                }
                out.push(BASE64URL[(s & 63) as usize] as char);
                s >>= 6;
            }
        }
        // authclaims: a JSON object in a string; the older spelling escapes
        // it a second time, as Qlik's example payloads do.
        let q = if current { "\\\"" } else { "\\\\\\\"" };
        out.push_str("\",\"authclaims\":\"{");
        for (i, (key, value)) in [
            ("iss", "qlik.api.internal/oauth"),
            ("sub", actor_id),
            ("subType", subtype),
            ("tenantId", tenant.id.as_str()),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            out.push_str(q);
            out.push_str(key);
            out.push_str(q);
            out.push(':');
            out.push_str(q);
            out.push_str(value);
            out.push_str(q);
        }
        out.push_str("}\"");
        if current {
            let trace = hash(&[seed, TAG_TRACE, ev.seq]);
            out.push_str(",\"traceparent\":\"00-");
            push_hex(out, trace, 16);
            push_hex(out, mix(trace), 16);
            out.push('-');
            push_hex(out, mix(trace ^ GOLDEN), 16);
            out.push_str("-01\",\"tracestate\":\"qlik=");
            push_hex(out, mix(trace ^ GOLDEN), 16);
            out.push_str("\",\"meta\":{\"userAgent\":\"");
            out.push_str(agent);
            out.push_str("\"}");
        }
        out.push_str(",\"data\":{");
        match &ev.body {
            Body::Issued(i) => self.render_issued(tenant, ev, i, current, out),
            Body::Revoked(r) => self.render_revoked(tenant, ev, r, out),
        }
        out.push_str("}}");
    }

    fn render_issued(&self, tenant: &Tenant, ev: &Ev, i: &Issue, current: bool, out: &mut String) {
        let client = &tenant.clients[i.client as usize];
        let mut scratch = String::new();
        let owner = self.principal_id(tenant, i.owner, &mut scratch);
        out.push_str("\"id\":\"");
        push_token(out, self.world.seed, ev.seq);
        out.push_str("\",\"scopes\":");
        out.push_str(i.scopes.json());
        out.push_str(",\"appType\":\"");
        out.push_str(client.app_type);
        out.push_str("\",\"ownerId\":\"");
        out.push_str(owner);
        out.push_str("\",\"issuedAt\":\"");
        push_time(out, ev.time);
        out.push_str("\",\"tenantId\":\"");
        if i.forged {
            let others = self.world.tenants.len();
            if others > 1 {
                out.push_str(&self.world.tenants[(ev.tenant as usize + 1) % others].id);
            } else {
                out.push_str("Xq7RbN2vLk9TzW4sHc1pYd8MfJ3uAe6G");
            }
        } else {
            out.push_str(&tenant.id);
        }
        out.push_str("\",\"createdBy\":\"");
        out.push_str(&client.id);
        out.push_str("\",\"grantType\":\"");
        out.push_str(i.grant.name());
        if i.device != NO_DEVICE {
            out.push_str("\",\"deviceType\":\"");
            out.push_str(DEVICES[i.device as usize].0);
        }
        out.push_str("\",\"description\":\"");
        out.push_str(client.name);
        out.push_str("\",\"resourceOwner\":\"");
        out.push_str(owner);
        out.push_str("\",\"issuedToClientId\":\"");
        out.push_str(&client.id);
        out.push('"');
        if current {
            match i.owner {
                Principal::Bot(_) => out.push_str(",\"userType\":\"bot\""),
                Principal::Anonymous(_) => out.push_str(",\"userType\":\"anonymous\""),
                _ => {}
            }
        }
    }

    fn render_revoked(&self, tenant: &Tenant, ev: &Ev, r: &Revoke, out: &mut String) {
        out.push_str("\"revokedAt\":\"");
        push_time(out, ev.time);
        out.push_str("\",\"revokedBy\":\"");
        out.push_str(&tenant.users[r.actor as usize].id);
        out.push_str("\",\"revokedContext\":{");
        let mut first = true;
        let mut field = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            out.push_str(name);
            out.push_str("\":\"");
        };
        if let Some(user) = r.user {
            field(out, "userId");
            let mut scratch = String::new();
            out.push_str(self.principal_id(tenant, user, &mut scratch));
            out.push('"');
        }
        if let Some(grant) = r.grant {
            field(out, "grantId");
            push_hex(out, grant, 16);
            push_hex(out, mix(grant) >> 32, 8);
            out.push('"');
        }
        if let Some(client) = r.client {
            field(out, "clientId");
            out.push_str(&tenant.clients[client as usize].id);
            out.push('"');
        }
        if r.tenant {
            field(out, "tenantId");
            out.push_str(&tenant.id);
            out.push('"');
        }
        out.push_str("},\"revokedByBearer\":");
        out.push_str(if r.bearer { "true" } else { "false" });
    }
}

impl Iterator for Simulation {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut line = String::with_capacity(1536);
        self.next_line(&mut line).then_some(line)
    }
}

/// The attacks, in the order of their days: (rule, day).
const PLAN: &[(&str, i64)] = &[
    ("envelope-tenant-mismatch", 2),
    ("token-burst-per-client", 2),
    ("token-exchange-not-allowed", 3),
    ("token-spike-per-client", 3),
    ("client-new-grant-type", 4),
    ("token-burst-per-user", 4),
    ("impersonation-admin-scope", 5),
    ("revocation-of-other-user-via-api", 5),
    ("impersonation-of-watched-admin", 6),
    ("anonymous-embed-farming", 6),
    ("impersonation-fanout", 7),
    ("privileged-grant-from-new-address", 8),
    ("user-token-from-new-network", 9),
    ("new-client-in-tenant", 10),
    ("new-device-type-for-user", 11),
    ("session-from-several-addresses", 12),
    ("mass-revocation-by-actor", 13),
    ("broad-revocation-context", 14),
    ("revoked-by-other-then-reissued", 15),
    ("refresh-after-revocation", 16),
    ("issuance-outside-usual-hours", 17),
];

// ---------------------------------------------------------------------------
// Text

fn push_hex(out: &mut String, value: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEXDIGITS[((value >> (i * 4)) & 15) as usize] as char);
    }
}

/// An event id: a version-4 UUID derived from the sequence number.
fn push_uuid(out: &mut String, seed: u64, seq: u64) {
    let a = hash(&[seed, TAG_EVENT, seq]);
    let b = mix(a ^ GOLDEN);
    push_hex(out, a >> 32, 8);
    out.push('-');
    push_hex(out, a >> 16, 4);
    out.push_str("-4");
    push_hex(out, a, 3);
    out.push('-');
    push_hex(out, 8 | (b >> 62), 1);
    push_hex(out, b >> 48, 3);
    out.push('-');
    push_hex(out, b, 12);
}

/// A token id (`data.id`): 24 hex digits.
fn push_token(out: &mut String, seed: u64, seq: u64) {
    let h = hash(&[seed, TAG_TOKEN, seq]);
    push_hex(out, h, 16);
    push_hex(out, mix(h) >> 32, 8);
}

fn push_ip(out: &mut String, ip: Ip) {
    match ip {
        Ip::V4(v) => {
            for (i, shift) in [24, 16, 8, 0].into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from((v >> shift) & 255));
            }
        }
        Ip::V6(groups) => {
            for (i, g) in groups.into_iter().enumerate() {
                if i > 0 {
                    out.push(':');
                }
                let digits = (1..4)
                    .rev()
                    .find(|d| g >> (d * 4) != 0)
                    .map_or(1, |d| d + 1);
                push_hex(out, u64::from(g), digits);
            }
        }
    }
}

fn ip_text(ip: Ip) -> String {
    let mut s = String::new();
    push_ip(&mut s, ip);
    s
}

fn push_decimal(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

fn push_2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

/// Seconds since the epoch as RFC 3339 in UTC (`2026-03-02T09:00:00Z`).
fn push_time(out: &mut String, t: i64) {
    let days = t.div_euclid(DAY);
    let secs = t.rem_euclid(DAY) as u32;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    if (0..10_000).contains(&y) {
        push_2(out, (y / 100) as u32);
        push_2(out, (y % 100) as u32);
    } else {
        push_decimal(out, y.unsigned_abs());
    }
    out.push('-');
    push_2(out, m);
    out.push('-');
    push_2(out, d);
    out.push('T');
    push_2(out, secs / 3600);
    out.push(':');
    push_2(out, secs / 60 % 60);
    out.push(':');
    push_2(out, secs % 60);
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        let mut s = String::new();
        push_time(&mut s, DEFAULT_START);
        assert_eq!(s, "2026-03-02T00:00:00Z");
        s.clear();
        push_time(&mut s, 951_827_696); // 2000-02-29T12:34:56Z
        assert_eq!(s, "2000-02-29T12:34:56Z");
        s.clear();
        push_time(&mut s, 0);
        assert_eq!(s, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn addresses_are_valid() {
        for ip in [
            Ip::V4(0x0A01_0203),
            Ip::V6([0x2a01, 0, 0x10, 0xabc, 0xffff, 1, 0x100, 0x1000]),
        ] {
            let text = ip_text(ip);
            assert!(text.parse::<std::net::IpAddr>().is_ok(), "{text}");
        }
    }

    #[test]
    fn every_line_is_json_in_time_order() {
        let config = Config {
            days: ATTACK_DAYS,
            tenants: 3,
            users: 4,
            attacks: true,
            watchlist: true,
            ..Config::default()
        };
        let mut last = String::new();
        let mut ids = std::collections::HashSet::new();
        let mut sim = Simulation::new(config).unwrap();
        let mut line = String::new();
        while {
            line.clear();
            sim.next_line(&mut line)
        } {
            let v: serde_json::Value = serde_json::from_str(&line).expect(&line);
            let time = v["time"].as_str().unwrap().to_owned();
            assert!(time >= last, "{time} after {last}");
            last = time;
            assert!(ids.insert(v["id"].as_str().unwrap().to_owned()));
            let claims = v["authclaims"].as_str().unwrap();
            let claims = claims.replace("\\\"", "\"");
            let claims: serde_json::Value = serde_json::from_str(&claims).expect(&line);
            assert!(claims["sub"].is_string());
        }
        assert_eq!(sim.attacks().len(), PLAN.len());
        assert_eq!(sim.emitted_attacks().count(), PLAN.len());
        for attack in sim.attacks() {
            for id in &attack.events {
                assert!(ids.contains(id), "{} {id}", attack.rule);
            }
        }
    }
}

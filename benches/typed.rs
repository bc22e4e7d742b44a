//! The parse floor: a Qlik OAuth event deserialised by serde_json into a
//! typed struct with borrowed strings, reading the fields the rules of a
//! pack read. Shared by the benchmark and `examples/floor.rs`.

use std::borrow::Cow;

use serde::Deserialize;

/// An OAuth token event, typed.
#[derive(Deserialize)]
#[allow(dead_code)]
pub struct TypedEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    specversion: Cow<'a, str>,
    #[serde(borrow)]
    userid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    originip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tenantid: Cow<'a, str>,
    #[serde(borrow)]
    sessionid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    authclaims: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: TypedData<'a>,
}

#[derive(Deserialize)]
#[allow(dead_code, non_snake_case)]
/// The `data` object of an event, typed.
pub struct TypedData<'a> {
    #[serde(borrow, default)]
    scopes: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    grantType: Option<Cow<'a, str>>,
    #[serde(borrow)]
    issuedAt: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resourceOwner: Option<Cow<'a, str>>,
    #[serde(borrow)]
    issuedToClientId: Option<Cow<'a, str>>,
    #[serde(borrow)]
    deviceType: Option<Cow<'a, str>>,
    #[serde(borrow)]
    revokedAt: Option<Cow<'a, str>>,
    #[serde(borrow)]
    revokedBy: Option<Cow<'a, str>>,
    revokedByBearer: Option<bool>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ownerId: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tenantId: Option<Cow<'a, str>>,
    #[serde(borrow)]
    appType: Option<Cow<'a, str>>,
    #[serde(borrow)]
    meta: Option<TypedMeta<'a>>,
    #[serde(borrow)]
    revokedContext: Option<TypedRevokedContext<'a>>,
}

/// `data.meta`, typed.
#[derive(Deserialize)]
#[allow(dead_code, non_snake_case)]
pub struct TypedMeta<'a> {
    #[serde(borrow)]
    userAgent: Option<Cow<'a, str>>,
}

/// `data.revokedContext`, typed.
#[derive(Deserialize)]
#[allow(dead_code, non_snake_case)]
pub struct TypedRevokedContext<'a> {
    #[serde(borrow)]
    userId: Option<Cow<'a, str>>,
}

//! `/v1/customers`: the reseller's customers.

use axum::{Json, http::StatusCode, response::Response};
use serde::Deserialize;
use tollgate_core::{
    CustomerId, Money,
    customers::{Address, Customer, CustomerStatus, Terms, TrustTier},
    validate::{self, CountryCode},
};
use tollgate_store::{CustomerFilter, CustomerPatch, NewCustomer};
use utoipa::ToSchema;

use super::{Checks, Id, ListOf, Paging, Q};
use crate::{
    ctx::{Ctx, Operate, Read, WriteFacts},
    error::ApiResult,
    json::JsonBody,
};

/// A customer to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    /// The reseller's own id, unique per tenant.
    pub external_id: String,
    pub legal_name: String,
    pub company_domain: Option<String>,
    pub country: CountryCode,
    pub email: Option<String>,
    /// E.164, e.g. `+4930123456`.
    pub phone: Option<String>,
    pub billing_address: Option<Address>,
    /// Defaults to `active`.
    pub status: Option<CustomerStatus>,
    /// Defaults to `new`.
    pub trust_tier: Option<TrustTier>,
    /// Defaults to the terms of an unvetted customer (prepayment, no credit, no admin access).
    pub terms: Option<Terms>,
}

/// Fields to change; absent fields stay, `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatchIn {
    pub legal_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub company_domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub billing_address: Option<Option<Address>>,
    pub status: Option<CustomerStatus>,
    pub trust_tier: Option<TrustTier>,
    pub terms: Option<Terms>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    pub status: Option<CustomerStatus>,
    pub trust_tier: Option<TrustTier>,
    pub country: Option<CountryCode>,
    pub external_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

fn optional<T>(
    checks: &mut Checks,
    value: Option<&str>,
    check: impl Fn(&str) -> Result<T, validate::FieldError>,
) -> Option<T> {
    value.and_then(|v| checks.take(check(v)))
}

fn check_address(checks: &mut Checks, address: &Address) -> Option<Address> {
    let field = |name: &str| format!("billing_address.{name}");
    let line1 = checks.take(validate::text(&field("line1"), &address.line1, 200));
    let city = checks.take(validate::text(&field("city"), &address.city, 100));
    let postal_code = checks.take(validate::text(
        &field("postal_code"),
        &address.postal_code,
        20,
    ));
    let line2 = optional(checks, address.line2.as_deref(), |v| {
        validate::text(&field("line2"), v, 200)
    });
    let region = optional(checks, address.region.as_deref(), |v| {
        validate::text(&field("region"), v, 100)
    });
    Some(Address {
        line1: line1?,
        line2,
        city: city?,
        postal_code: postal_code?,
        region,
        country: address.country,
    })
}

pub(crate) fn check_terms(checks: &mut Checks, terms: &Terms) {
    let limits = [
        ("terms.credit_limit", terms.credit_limit),
        ("terms.monthly_spend_limit", terms.monthly_spend_limit),
    ];
    for (field, limit) in limits {
        if let Some(limit) = limit {
            if limit.is_negative() {
                checks.fail(field, "must not be negative");
            } else if let Err(e) = Money::new(limit.amount, limit.currency) {
                checks.fail(field, e);
            }
        }
    }
}

impl CustomerIn {
    fn validate(self) -> ApiResult<NewCustomer> {
        let mut c = Checks::default();
        let external_id = c.take(validate::text("external_id", &self.external_id, 128));
        let legal_name = c.take(validate::text("legal_name", &self.legal_name, 200));
        let company_domain = optional(&mut c, self.company_domain.as_deref(), |v| {
            validate::domain_name("company_domain", v)
        });
        let email = optional(&mut c, self.email.as_deref(), |v| {
            validate::email("email", v)
        });
        let phone = optional(&mut c, self.phone.as_deref(), |v| {
            validate::phone_e164("phone", v)
        });
        let billing_address = self
            .billing_address
            .as_ref()
            .and_then(|a| check_address(&mut c, a));
        let terms = self.terms.unwrap_or_default();
        check_terms(&mut c, &terms);
        c.finish()?;
        Ok(NewCustomer {
            id: CustomerId::generate(),
            external_id: external_id.unwrap_or_default(),
            legal_name: legal_name.unwrap_or_default(),
            company_domain,
            country: self.country,
            email,
            phone,
            billing_address,
            status: self.status.unwrap_or(CustomerStatus::Active),
            trust_tier: self.trust_tier.unwrap_or(TrustTier::New),
            terms,
        })
    }
}

impl CustomerPatchIn {
    fn validate(self) -> ApiResult<CustomerPatch> {
        let mut c = Checks::default();
        let legal_name = optional(&mut c, self.legal_name.as_deref(), |v| {
            validate::text("legal_name", v, 200)
        });
        let company_domain = self.company_domain.map(|d| {
            optional(&mut c, d.as_deref(), |v| {
                validate::domain_name("company_domain", v)
            })
        });
        let email = self
            .email
            .map(|e| optional(&mut c, e.as_deref(), |v| validate::email("email", v)));
        let phone = self
            .phone
            .map(|p| optional(&mut c, p.as_deref(), |v| validate::phone_e164("phone", v)));
        let billing_address = self
            .billing_address
            .map(|a| a.as_ref().and_then(|a| check_address(&mut c, a)));
        if let Some(terms) = &self.terms {
            check_terms(&mut c, terms);
        }
        c.finish()?;
        Ok(CustomerPatch {
            legal_name,
            company_domain,
            email,
            phone,
            billing_address,
            status: self.status,
            trust_tier: self.trust_tier,
            terms: self.terms,
        })
    }
}

/// Create a customer.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = Customer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<WriteFacts>,
    JsonBody(input): JsonBody<CustomerIn>,
) -> ApiResult<Response> {
    let new = input.validate()?;
    let mut tx = ctx.begin().await?;
    let customer = tx.insert_customer(ctx.tenant(), new, ctx.now()).await?;
    ctx.audit(&mut tx, "customer.created", customer.id, &customer)
        .await?;
    ctx.commit(tx, StatusCode::CREATED, &customer).await
}

/// List customers, oldest first.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = ListOf<Customer>)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<CustomerQuery>) -> ApiResult<Json<ListOf<Customer>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let filter = CustomerFilter {
        status: query.status,
        trust_tier: query.trust_tier,
        country: query.country,
        external_id: query.external_id,
    };
    Ok(Json(
        ctx.read()
            .await?
            .list_customers(ctx.tenant(), &filter, &page)
            .await?
            .into(),
    ))
}

/// One customer.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "`cus_…`")),
    responses((status = 200, body = Customer), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<CustomerId>) -> ApiResult<Json<Customer>> {
    Ok(Json(ctx.read().await?.customer(ctx.tenant(), id).await?))
}

/// Change a customer: contact details, status, trust tier or terms.
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", request_body = CustomerPatchIn,
    params(("id" = String, Path, description = "`cus_…`")),
    responses((status = 200, body = Customer), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    ctx: Ctx<Operate>,
    Id(id): Id<CustomerId>,
    JsonBody(input): JsonBody<CustomerPatchIn>,
) -> ApiResult<Response> {
    let patch = input.validate()?;
    let mut tx = ctx.begin().await?;
    let (before, after) = tx
        .update_customer(ctx.tenant(), id, patch, ctx.now())
        .await?;
    ctx.audit(
        &mut tx,
        "customer.updated",
        id,
        serde_json::json!({ "before": before, "after": after }),
    )
    .await?;
    ctx.commit(tx, StatusCode::OK, &after).await
}

use chrono::{DateTime, Utc};
use tollgate_core::{
    CustomerId, TenantId,
    customers::{Address, Customer, CustomerStatus, Terms, TrustTier},
    validate::CountryCode,
};

use crate::{
    Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros, to_json},
    sql::{Params, rows_per_statement},
    statement::{Row, Statement},
};

const COLUMNS: &str = "id, external_id, legal_name, company_domain, country, email, phone, \
                       billing_address, status, trust_tier, terms, created_at, updated_at";

/// A customer to create; fields are already validated by the caller.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub id: CustomerId,
    pub external_id: String,
    pub legal_name: String,
    pub company_domain: Option<String>,
    pub country: CountryCode,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Option<Address>,
    pub status: CustomerStatus,
    pub trust_tier: TrustTier,
    pub terms: Terms,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub legal_name: Option<String>,
    pub company_domain: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub billing_address: Option<Option<Address>>,
    pub status: Option<CustomerStatus>,
    pub trust_tier: Option<TrustTier>,
    pub terms: Option<Terms>,
}

impl CustomerPatch {
    pub fn apply(self, customer: &mut Customer) {
        let Self {
            legal_name,
            company_domain,
            email,
            phone,
            billing_address,
            status,
            trust_tier,
            terms,
        } = self;
        if let Some(v) = legal_name {
            customer.legal_name = v;
        }
        if let Some(v) = company_domain {
            customer.company_domain = v;
        }
        if let Some(v) = email {
            customer.email = v;
        }
        if let Some(v) = phone {
            customer.phone = v;
        }
        if let Some(v) = billing_address {
            customer.billing_address = v;
        }
        if let Some(v) = status {
            customer.status = v;
        }
        if let Some(v) = trust_tier {
            customer.trust_tier = v;
        }
        if let Some(v) = terms {
            customer.terms = v;
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub status: Option<CustomerStatus>,
    pub trust_tier: Option<TrustTier>,
    pub country: Option<CountryCode>,
    pub external_id: Option<String>,
}

fn customer(row: &Row) -> Result<Customer> {
    Ok(Customer {
        id: row.parsed("id")?,
        external_id: row.text("external_id")?,
        legal_name: row.text("legal_name")?,
        company_domain: row.opt_text("company_domain")?,
        country: row.parsed("country")?,
        email: row.opt_text("email")?,
        phone: row.opt_text("phone")?,
        billing_address: row
            .opt_text("billing_address")?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("billing_address: {e}")))?,
        status: row.parsed("status")?,
        trust_tier: row.parsed("trust_tier")?,
        terms: row.json("terms")?,
        created_at: row.at("created_at")?,
        updated_at: row.at("updated_at")?,
    })
}

const UNIQUE: &[(&str, &str, &str)] = &[(
    "customers_external_id",
    "customers.tenant_id, customers.external_id",
    "external_id",
)];

impl Tx {
    pub async fn insert_customer(
        &mut self,
        tenant: TenantId,
        new: NewCustomer,
        at: DateTime<Utc>,
    ) -> Result<Customer> {
        let customer = Customer {
            id: new.id,
            external_id: new.external_id,
            legal_name: new.legal_name,
            company_domain: new.company_domain,
            country: new.country,
            email: new.email,
            phone: new.phone,
            billing_address: new.billing_address,
            status: new.status,
            trust_tier: new.trust_tier,
            terms: new.terms,
            created_at: at,
            updated_at: at,
        };
        let sql = format!(
            "INSERT INTO customers (tenant_id, {COLUMNS}) VALUES {}",
            Params::new(self.dialect).rows(1, 14)
        );
        self.write(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(customer.id.to_string())
                .bind(&customer.external_id)
                .bind(&customer.legal_name)
                .bind(customer.company_domain.clone())
                .bind(customer.country.to_string())
                .bind(customer.email.clone())
                .bind(customer.phone.clone())
                .bind(customer.billing_address.as_ref().map(to_json))
                .bind(customer.status.as_str())
                .bind(customer.trust_tier.as_str())
                .bind(to_json(&customer.terms))
                .bind(micros(at))
                .bind(micros(at))
                .unique(UNIQUE),
        )
        .await?;
        Ok(customer)
    }

    pub async fn customer(&mut self, tenant: TenantId, id: CustomerId) -> Result<Customer> {
        self.customer_locked(tenant, id, false).await
    }

    /// The tenant's customers among `ids`, in no particular order; ids it does not have are
    /// left out.
    pub async fn customers_among(
        &mut self,
        tenant: TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(rows_per_statement(1, 1)) {
            let mut p = Params::new(self.dialect);
            let sql = format!(
                "SELECT {COLUMNS} FROM customers WHERE tenant_id = {} AND id IN ({})",
                p.next(),
                p.list(chunk.len())
            );
            let mut query = Statement::new(sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in self.fetch_all(query).await? {
                found.push(customer(&row)?);
            }
        }
        Ok(found)
    }

    /// Reads a customer and, on PostgreSQL, locks its row until the transaction ends.
    pub async fn customer_for_update(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Customer> {
        self.customer_locked(tenant, id, true).await
    }

    async fn customer_locked(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        lock: bool,
    ) -> Result<Customer> {
        let lock = if lock { self.dialect.for_update() } else { "" };
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2{lock}");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        customer(&row)
    }

    pub async fn list_customers(
        &mut self,
        tenant: TenantId,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<Customer>> {
        let listing = Listing::new(format!("SELECT {COLUMNS} FROM customers"), tenant, page)
            .matching("status", filter.status.map(|s| s.as_str()))
            .matching("trust_tier", filter.trust_tier.map(|t| t.as_str()))
            .matching("country", filter.country)
            .matching("external_id", filter.external_id.as_deref());
        let rows = self.fetch_all(listing.statement()).await?;
        let customers = rows.iter().map(customer).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(customers, page, |c| c.id.to_string()))
    }

    /// Applies a patch and returns the customer before and after.
    pub async fn update_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        patch: CustomerPatch,
        at: DateTime<Utc>,
    ) -> Result<(Customer, Customer)> {
        let before = self.customer_for_update(tenant, id).await?;
        let mut after = before.clone();
        patch.apply(&mut after);
        after.updated_at = at;
        self.execute(Statement::new("UPDATE customers SET legal_name = $3, company_domain = $4, email = $5, phone = $6, \
             billing_address = $7, status = $8, trust_tier = $9, terms = $10, updated_at = $11 \
             WHERE tenant_id = $1 AND id = $2",)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(&after.legal_name)
        .bind(after.company_domain.clone())
        .bind(after.email.clone())
        .bind(after.phone.clone())
        .bind(after.billing_address.as_ref().map(to_json))
        .bind(after.status.as_str())
        .bind(after.trust_tier.as_str())
        .bind(to_json(&after.terms))
        .bind(micros(at)))
        .await?;
        Ok((before, after))
    }
}

//! `env_vars`: a variable name with one value, as given to a submit or a job;
//! a shared lookup row. Values of secret variables are stored masked (by the
//! caller).

use diesel::prelude::*;

use super::id_type;
use crate::db::schema::env_vars;

id_type!(
    /// The id of an `env_vars` row.
    EnvVarId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = env_vars, check_for_backend(diesel::pg::Pg))]
pub struct EnvVar {
    pub id: EnvVarId,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = env_vars)]
pub struct NewEnvVar<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl NewEnvVar<'_> {
    /// The row of this name and value, inserted if it is new.
    pub fn get_or_create(&self, conn: &mut PgConnection) -> QueryResult<EnvVar> {
        let inserted = diesel::insert_into(env_vars::table)
            .values(self)
            .on_conflict((env_vars::name, env_vars::value))
            .do_nothing()
            .returning(EnvVar::as_returning())
            .get_result(conn)
            .optional()?;
        match inserted {
            Some(row) => Ok(row),
            None => env_vars::table
                .filter(env_vars::name.eq(self.name))
                .filter(env_vars::value.eq(self.value))
                .select(EnvVar::as_select())
                .first(conn),
        }
    }
}

//! The one set of credentials every local engine and client uses: the embedded S3 engine checks
//! signatures against it, DynamoDB Local accepts it, the local server signs with it.

/// Credentials the embedded S3 server checks SigV4 signatures against. They unlock nothing but
/// a server bound to 127.0.0.1. Letters and digits only: DynamoDB Local refuses anything else.
pub const LOCAL_ACCESS_KEY: &str = "keellocal";
/// See [`LOCAL_ACCESS_KEY`].
pub const LOCAL_SECRET_KEY: &str = "keellocalsecret";
/// The region local clients sign for.
pub const LOCAL_REGION: &str = "us-east-1";

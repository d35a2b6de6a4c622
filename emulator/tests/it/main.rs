//! The emulator's integration tests, one binary (one link, one run): each module drives the
//! emulator from outside, over HTTPS, the way one client of it does.

mod helpers;

mod app_id_uris;
mod assertions;
mod documented_limits;
mod entra;
mod faults;
mod graph;
mod lost_response;
mod managed_identity;
mod official_sdk;
mod powerbi;
mod rest_shapes;
mod seed_file;
mod throttle_model;
mod token_faults;
mod vault;

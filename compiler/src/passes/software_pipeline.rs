//! `pipeline`: software pipelining across loop iterations.
//!
//! After unrolling, the loop-carried recurrence of logistic regression is
//! `beta_{i+1} = beta_i + Z_i^T s_i` with `s_i = gamma h(Z_i beta_i)`: every iteration waits for
//! the previous `beta`. This pass lets the depth-search engine rewrite *across* iteration
//! boundaries with every rule at once, and counts products of encrypted inputs as free (they are
//! client-precomputed by the next pass). For logistic regression it finds
//! `u_{i+1} = Z_{i+1} beta_i + (Z_{i+1} Z_i^T) s_i`: the next iteration's pre-activation is
//! carried forward and only depends on this iteration through the folded cubic, two levels per
//! iteration. `Z_{i+1} beta_i` does not depend on iteration i's sigmoid and runs in parallel.
//!
//! Without client precomputation (`--client-precompute off`) the cross products cost a level but
//! are still off the critical path when the data arrive fresh.

use super::client_precompute::ClientPrecompute;
use super::depth_search::{EnginePass, Rules};
use super::pipeline::Options;

/// Products of encrypted inputs may be left for `client-precompute` unless it is off.
pub fn pass(options: &Options) -> EnginePass {
    let precompute = options.client_precompute != ClientPrecompute::Off;
    EnginePass {
        name: "pipeline",
        description: "software pipelining: rewrite the unrolled loop-carried recurrence through its shortest path, across iterations",
        rules: Rules {
            hoist: true,
            distribute: true,
            fold: true,
            reassociate: true,
            cross_iteration: true,
            precompute,
            precompute_later: false,
            products: options.products,
            client_budget: options.client_precompute,
            merge_scales: options.merge_scales,
        },
    }
}

//! State refreshed on the server (bootstrapping between rounds, issue 21): a round program's
//! state input arrives as the bootstrapped ciphertexts of the previous round's output, so the
//! two are pinned to one packing: row-replicated tiles of factor 1, the output masked clean,
//! no client-side product involving the input, and every view of it computed on the server.

use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::rounds::RoundTemplate;
use hel_compiler::{Options, SourceFile};
use hel_schedule::{Layout, Source};

fn example(name: &str) -> SourceFile {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    SourceFile::new(name, text)
}

fn round_options(template: &RoundTemplate, level: OptLevel) -> Options {
    let mut o = Options {
        sets: [("k", 2.0), ("m", 64.0), ("f", 8.0)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        refresh: template
            .state()
            .iter()
            .map(|s| (s.input.clone(), s.name.clone()))
            .collect(),
        keep_best: false,
        ..Options::default()
    };
    o.passes.level = level;
    o
}

#[test]
fn refreshed_state_keeps_one_packing_at_every_level() {
    for file in ["logreg_nag.hel", "logreg_gd.hel"] {
        let template = RoundTemplate::new(&example(file)).unwrap();
        for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
            let opts = round_options(&template, level);
            let c = template
                .compile(2, &opts)
                .unwrap_or_else(|d| panic!("{file} {level:?}: {}", d.render_plain()));
            let s = c.schedule();
            let w = s.unit.w;
            for st in template.state() {
                let (index, decl) = s
                    .inputs
                    .iter()
                    .enumerate()
                    .find(|(_, i)| i.name == st.input)
                    .unwrap();
                assert_eq!(decl.refreshed_from.as_deref(), Some(st.name.as_str()));
                let packs: Vec<_> = s
                    .ct_inputs
                    .iter()
                    .filter(|c| {
                        c.pack.source
                            == Source::Input {
                                input: index as u32,
                                element: 0,
                            }
                    })
                    .collect();
                assert!(!packs.is_empty(), "{file} {level:?}: `{}` unused", st.input);
                for (t, c) in packs.iter().enumerate() {
                    assert_eq!(
                        c.pack.layout,
                        Layout::RowVector { offset: t * w },
                        "{file} {level:?}"
                    );
                    assert_eq!(c.pack.factor, 1.0, "{file} {level:?}");
                }
                let out = s.outputs.iter().find(|o| o.name == st.name).unwrap();
                for (t, tile) in out.tiles.iter().enumerate() {
                    assert_eq!(tile.layout, Layout::RowVector { offset: t * w });
                    assert_eq!(tile.factor, 1.0);
                }
                assert_eq!(out.tiles.len(), packs.len());
            }
            // The client never computes with the state.
            for d in &c.program.derived {
                for st in template.state() {
                    assert!(
                        !d.description.contains(&st.input),
                        "{file} {level:?}: {}",
                        d.description
                    );
                }
            }
        }
    }
}

/// With client rounds the client decrypts the weights between rounds, but it still only
/// prepares data (issue 20, item 3): no client-precomputed input of a round program involves
/// the state, at any level, for any round size. (Before the template marked its state inputs,
/// a NAG round of one minibatch had the client compute `Z[0] @ w_start`: depth 2 and a server
/// that never multiplied the weights.)
#[test]
fn client_rounds_leave_the_state_to_the_server() {
    for file in ["logreg_nag.hel", "logreg_gd.hel"] {
        let template = RoundTemplate::new(&example(file)).unwrap();
        for (k, level) in [
            (1.0, OptLevel::O2),
            (2.0, OptLevel::O2),
            (2.0, OptLevel::O1),
        ] {
            let mut opts = Options {
                sets: [("k", k), ("m", 64.0), ("f", 8.0)]
                    .iter()
                    .map(|(n, v)| (n.to_string(), *v))
                    .collect(),
                ..Options::default()
            };
            opts.passes.level = level;
            let c = template
                .compile(0, &opts)
                .unwrap_or_else(|d| panic!("{file} k = {k}: {}", d.render_plain()));
            for st in template.state() {
                let decl = c.program.input(&st.input).unwrap();
                assert!(decl.model_state && decl.refreshed_from.is_none());
                for d in &c.program.derived {
                    assert!(
                        !d.description.contains(&st.input),
                        "{file} k = {k} {level:?}: {} = {}",
                        d.name,
                        d.description
                    );
                }
            }
            // The server multiplies the encrypted weights by the data.
            assert!(
                hel_compiler::analysis::client_work::encrypted_products(&c.program) >= 1,
                "{file} k = {k} {level:?}"
            );
        }
    }
}

#[test]
fn sequences_cannot_be_refreshed_and_matrices_keep_their_forms() {
    // A sequence cannot be refreshed (its elements are the data): refused at the input.
    let src = SourceFile::new(
        "bad.hel",
        "input X: enc vector[4][2];\nlet Y = X[0] * 2;\noutput Y;\n".to_string(),
    );
    let opts = Options {
        refresh: vec![("X".into(), "Y".into())],
        ..Options::default()
    };
    let d = hel_compiler::compile(&src, &opts).unwrap_err();
    let text = d.render_plain();
    assert!(text.contains("only encrypted values"), "{text}");
    assert!(text.contains("bad.hel:1"), "{text}");
    // A matrix comes in and leaves in one form, with factor 1, its output masked clean:
    // transposed where a product `X @ W` needs its columns, else as asked.
    let src = SourceFile::new(
        "w.hel",
        "input X: enc matrix[8, 4] range [-1, 1];\ninput W: enc matrix[4, 2];\n\
         let V = W - 0.1 * (transpose(X) @ (X @ W));\noutput V;\n"
            .to_string(),
    );
    use hel_compiler::ir::MatrixForms;
    let forms = [
        (None, true),
        (Some(MatrixForms::Transposed), true),
        (Some(MatrixForms::Direct), false),
    ];
    for (forced, want) in forms {
        let opts = Options {
            refresh: vec![("W".into(), "V".into())],
            refresh_forms: forced,
            ..Options::default()
        };
        let c = hel_compiler::compile(&src, &opts);
        let s = match (c, forced) {
            (Ok(c), _) => c.schedule().clone(),
            // Direct, `X @ W` has no recipe without W's columns: refused, never wrong.
            (Err(d), Some(MatrixForms::Direct)) => {
                assert!(d.message.contains("cannot lower"), "{}", d.message);
                continue;
            }
            (Err(d), _) => panic!("{}", d.render_plain()),
        };
        let layouts: Vec<Layout> = s.outputs[0].tiles.iter().map(|t| t.layout).collect();
        assert!(
            layouts
                .iter()
                .all(|l| matches!(l, Layout::MatrixTile { transposed, .. } if *transposed == want)),
            "{forced:?}: {layouts:?}"
        );
        let w = s.inputs.iter().position(|i| i.name == "W").unwrap() as u32;
        for ct in &s.ct_inputs {
            if matches!(ct.pack.source, Source::Input { input, .. } if input == w) {
                assert!(layouts.contains(&ct.pack.layout), "{:?}", ct.pack.layout);
                assert_eq!(ct.pack.factor, 1.0);
            }
        }
    }
}

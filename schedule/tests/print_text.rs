//! `Schedule::to_text` on a small hand-built schedule (every instruction, every plaintext kind,
//! a derived input, a sequence input, a hoisting group, a two-tile output): specific lines.

use hel_schedule::rules::{result, CtState};
use hel_schedule::{
    level_scales, CkksParams, ClientOp, CtInput, DerivedTensor, Instr, Layout, Node, Origin,
    OutputTile, Pack, Plain, Schedule, Shape, Source, TensorInput, TensorOutput, Unit, ValueId,
};

fn schedule() -> Schedule {
    let params = CkksParams::standard(13).unwrap(); // q_bits [50, 40, 40]: levels 0..=2
    let q = params.primes().unwrap().q;
    let scales = level_scales(&q, params.log_scale);
    let input = |name: &str, shape, seq, encrypted, range| TensorInput {
        name: name.into(),
        shape,
        seq,
        encrypted,
        range,
        refreshed_from: None,
    };
    let row = Layout::RowVector { offset: 0 };
    let tile = Layout::MatrixTile {
        transposed: false,
        row0: 0,
        col0: 0,
    };
    let ct = |source, layout, factor, level: u32| CtInput {
        pack: Pack {
            source,
            layout,
            factor,
        },
        level,
        scale: scales[level as usize],
    };
    let mut s = Schedule {
        name: "tiny.hel".into(),
        program_hash: "00ff".into(),
        params,
        level_scales: scales.clone(),
        unit: Unit { h: 64, w: 64 },
        inputs: vec![
            input("x", Shape::Vector(4), None, true, Some((-1.0, 1.5))),
            input("Z", Shape::Matrix(2, 3), Some(2), true, None),
            input("w", Shape::Vector(4), None, false, None),
        ],
        derived: vec![DerivedTensor {
            name: "D".into(),
            description: "Z[1] @ transpose(Z[0])".into(),
            shape: Shape::Matrix(2, 2),
            ops: vec![
                ClientOp::Input {
                    input: 1,
                    element: 1,
                },
                ClientOp::Input {
                    input: 1,
                    element: 0,
                },
                ClientOp::Transpose(1),
                ClientOp::MatMul(0, 2),
            ],
        }],
        ct_inputs: vec![
            ct(
                Source::Input {
                    input: 0,
                    element: 0,
                },
                row,
                1.0,
                2,
            ),
            ct(Source::Derived { index: 0 }, tile, 0.5, 1),
            ct(
                Source::Input {
                    input: 1,
                    element: 1,
                },
                tile,
                1.0,
                2,
            ),
        ],
        nodes: vec![],
        outputs: vec![],
        rotation_steps: vec![-1, 3],
        needs_conjugation: true,
        hoist_groups: vec![],
        bootstrap: None,
    };
    let s2 = scales[2];
    let mask = Plain::Rect {
        value: 1.0,
        rows: (0, 1),
        cols: (0, 4),
    };
    let program = [
        Instr::Input { index: 0 },        // %0
        Instr::Input { index: 1 },        // %1
        Instr::Rotate { a: 0, step: 3 },  // %2
        Instr::Rotate { a: 0, step: -1 }, // %3
        Instr::Add { a: 2, b: 3 },        // %4
        Instr::MulPlain {
            a: 4,
            plain: mask,
            scale: s2,
        }, // %5
        Instr::Rescale { a: 5 },          // %6: level 1
        Instr::Mul { a: 6, b: 1 },        // %7: degree 2
        Instr::Relinearize { a: 7 },      // %8
        Instr::AddConst { a: 8, value: 0.25 }, // %9
        Instr::MulConst {
            a: 0,
            value: -0.0843,
            scale: s2,
        }, // %10
        Instr::Rescale { a: 10 },         // %11: level 1
        Instr::MulPlain {
            a: 0,
            plain: Plain::Diagonal {
                value: 1.0 / 3.0,
                offset: -2,
                rows: (0, 4),
            },
            scale: s2,
        }, // %12
        Instr::AddPlain {
            a: 0,
            plain: Plain::Public {
                pack: Pack {
                    source: Source::Input {
                        input: 2,
                        element: 0,
                    },
                    layout: row,
                    factor: 2.0,
                },
            },
        }, // %13
        Instr::MulInt { a: 13, k: -3 },   // %14
        Instr::Neg { a: 14 },             // %15
        Instr::ModDown { a: 15, level: 0 }, // %16
        Instr::Conjugate { a: 16 },       // %17
        Instr::Sub { a: 9, b: 9 },        // %18
        Instr::Input { index: 2 },        // %19
    ];
    for (i, instr) in program.into_iter().enumerate() {
        let args: Vec<CtState> = instr
            .operands()
            .iter()
            .map(|&a| CtState::recorded(&s.nodes[a as usize]))
            .collect();
        let r = result(&instr, &args, &s.ct_inputs, &q).unwrap();
        let origin = if i == 2 {
            Origin {
                tensor_node: 5,
                tensor_op: "matvec".into(),
                span: Some("tiny.hel:3:5".into()),
            }
        } else if i == 7 {
            Origin {
                tensor_node: 6,
                tensor_op: "mul".into(),
                span: None,
            }
        } else {
            Origin::default()
        };
        s.nodes.push(Node {
            instr,
            level: r.level,
            scale: r.scale,
            degree: r.degree,
            bound: if i == 18 { f64::INFINITY } else { 1.17e-7 },
            origin,
            last_use: None,
        });
    }
    s.hoist_groups = vec![vec![2, 3]];
    let out = |name: &str, shape, tiles: Vec<(ValueId, Layout, f64)>| TensorOutput {
        name: name.into(),
        shape,
        tiles: tiles
            .into_iter()
            .map(|(value, layout, factor)| OutputTile {
                value,
                layout,
                factor,
            })
            .collect(),
        bound: 3.0e-6,
        range: 2.0,
    };
    s.outputs = vec![
        out("y", Shape::Vector(4), vec![(17, row, 1.0)]),
        out(
            "M",
            Shape::Matrix(2, 128),
            vec![
                (
                    19,
                    Layout::MatrixTile {
                        transposed: true,
                        row0: 0,
                        col0: 0,
                    },
                    1.0,
                ),
                (
                    19,
                    Layout::MatrixTile {
                        transposed: false,
                        row0: 0,
                        col0: 64,
                    },
                    0.5,
                ),
            ],
        ),
        out(
            "c",
            Shape::Scalar,
            vec![(18, Layout::ColVector { offset: 2 }, 1.0)],
        ),
    ];
    s.compute_liveness();
    s.validate().unwrap();
    s
}

#[test]
fn header_lists_parameters_grid_and_keys() {
    let text = schedule().to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..7],
        [
            "schedule tiny.hel",
            "program_hash 00ff",
            "params log_n 13, q_bits [50, 40, 40], p_bits [40, 40], dnum 3, log_scale 40, security classical-128",
            "level_scales [2^40.000, 2^40.000, 2^40.000]",
            "unit 64 x 64 (4096 slots)",
            "rotation_steps [-1, 3]",
            "conjugation yes",
        ],
        "{text}"
    );
}

#[test]
fn inputs_derived_and_ciphertext_inputs() {
    let text = schedule().to_text();
    let section = |name: &str, next: &str| {
        let start = text.find(&format!("\n{name}\n")).unwrap() + name.len() + 2;
        let end = text[start..].find(&format!("{next}\n")).unwrap() + start;
        text[start..end].lines().collect::<Vec<_>>()
    };
    assert_eq!(
        section("inputs", "derived"),
        [
            "  x: enc vector[4] range [-1, 1.5]",
            "  Z: enc matrix[2, 3][2]",
            "  w: plain vector[4]",
        ]
    );
    assert_eq!(
        section("derived", "ct_inputs"),
        ["  D: matrix[2, 2] = Z[1] @ transpose(Z[0])  ; 4 client ops"]
    );
    assert_eq!(
        section("ct_inputs", "nodes"),
        [
            "  ct0 = x row_vector(offset 0)  ; level 2 scale 2^40.000",
            "  ct1 = D tile(row0 0, col0 0) factor 0.5  ; level 1 scale 2^40.000",
            "  ct2 = Z[1] tile(row0 0, col0 0)  ; level 2 scale 2^40.000",
        ]
    );
}

#[test]
fn one_line_per_node_with_level_scale_degree_bound_and_origin() {
    let text = schedule().to_text();
    let node = |i: usize| {
        let prefix = format!("  %{i} = ");
        text.lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no node {i}:\n{text}"))
    };
    let expected = [
        "  %0 = input ct0  ; level 2 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %2 = rotate %0, 3  ; level 2 scale 2^40.000 deg 1 bound 1.2e-7  ; matvec (ir %5) @ tiny.hel:3:5",
        "  %3 = rotate %0, -1  ; level 2 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %4 = add %2, %3  ; level 2 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %5 = mul_plain %4, rect(1, rows 0..1, cols 0..4), scale 2^40.000  ; level 2 scale 2^80.000 deg 1 bound 1.2e-7",
        "  %6 = rescale %5  ; level 1 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %7 = ct_mul %6, %1  ; level 1 scale 2^80.000 deg 2 bound 1.2e-7  ; mul (ir %6)",
        "  %8 = relinearize %7  ; level 1 scale 2^80.000 deg 1 bound 1.2e-7",
        "  %9 = add_const %8, 0.25  ; level 1 scale 2^80.000 deg 1 bound 1.2e-7",
        "  %10 = mul_const %0, -0.0843, scale 2^40.000  ; level 2 scale 2^80.000 deg 1 bound 1.2e-7",
        "  %12 = mul_plain %0, diagonal(0.333333, offset -2, rows 0..4), scale 2^40.000  ; level 2 scale 2^80.000 deg 1 bound 1.2e-7",
        "  %13 = add_plain %0, public(w row_vector(offset 0) factor 2)  ; level 2 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %14 = mul_int %13, -3  ; level 2 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %15 = neg %14  ; level 2 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %16 = mod_down %15, level 0  ; level 0 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %17 = conjugate %16  ; level 0 scale 2^40.000 deg 1 bound 1.2e-7",
        "  %18 = sub %9, %9  ; level 1 scale 2^80.000 deg 1 bound inf",
    ];
    for want in expected {
        let id = want.trim_start().strip_prefix('%').unwrap();
        let i: usize = id[..id.find(' ').unwrap()].parse().unwrap();
        assert_eq!(node(i), want);
    }
    let nodes = text
        .lines()
        .filter(|l| l.starts_with("  %") && l.contains(" = "))
        .count();
    assert_eq!(nodes, 20, "one line per node:\n{text}");
}

#[test]
fn hoisting_groups_and_outputs() {
    let text = schedule().to_text();
    let tail: Vec<&str> = text.lines().skip_while(|l| *l != "hoist_groups").collect();
    assert_eq!(
        tail,
        [
            "hoist_groups",
            "  %2 %3",
            "outputs",
            "  y: vector[4] <- %17 row_vector(offset 0)  ; bound 3.0e-6 range 2.0e0",
            "  M: matrix[2, 128] <- %19 tile_t(row0 0, col0 0), %19 tile(row0 0, col0 64) factor 0.5  ; bound 3.0e-6 range 2.0e0",
            "  c: scalar <- %18 col_vector(offset 2)  ; bound 3.0e-6 range 2.0e0",
        ]
    );
    assert!(text.ends_with('\n'));
}

#[test]
fn text_is_deterministic_and_ignores_last_bit_changes() {
    let a = schedule();
    let mut b = a.clone();
    for n in &mut b.nodes {
        n.scale = f64::from_bits(n.scale.to_bits() + 1);
        if n.bound.is_finite() {
            n.bound = f64::from_bits(n.bound.to_bits() + 1);
        }
    }
    assert_eq!(a.to_text(), schedule().to_text());
    assert_eq!(a.to_text(), b.to_text());
}

#[test]
fn the_listing_is_refused_by_the_loader_with_a_hint() {
    let err = Schedule::from_bytes(schedule().to_text().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("--format text"), "{err}");
}

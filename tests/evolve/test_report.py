from agentevo.evolve.report import CurvePoint, ReportData, write_report


def test_report_writes_a_png_and_a_self_contained_html(tmp_path):
    points = [CurvePoint("none", e, 2, 10, (0.05, 0.5)) for e in (0, 10, 20)]
    points += [
        CurvePoint("memory+tools", 0, 2, 10, (0.05, 0.5)),
        CurvePoint("memory+tools", 10, 6, 10, (0.3, 0.85)),
        CurvePoint("memory+tools", 20, 4, 10, (0.17, 0.69), accepted=False, note="worse by 2"),
    ]
    data = ReportData(
        title="evolve humaneval",
        points=points,
        ablations=[
            {
                "condition": "memory+tools",
                "success_rate": 0.6,
                "ci95": (0.3, 0.85),
                "diff_vs_none": 0.4,
                "diff_ci95": (0.1, 0.7),
                "steps_per_solved": 1.5,
                "tokens": 12000,
            }
        ],
        learned={
            "memory+tools": [
                {
                    "kind": "workflow",
                    "title": "<b>click</b>",
                    "retrieved": 3,
                    "helped": 2,
                    "hurt": 1,
                    "content": "click [id]",
                }
            ]
        },
        rejected=[
            {
                "condition": "memory+tools",
                "episodes": 20,
                "what": "commit abc",
                "before": 0.6,
                "after": 0.4,
                "reason": "held-out success fell",
            }
        ],
        manifest={"model": "local/smollm2"},
    )
    png, page = write_report(data, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text()
    assert "data:image/png;base64," in html and "rolled back" in html
    assert "&lt;b&gt;click&lt;/b&gt;" in html  # learned text is escaped, never rendered as markup
    assert "+40.0 pts" in html

//! Every source format, on real answers of each source (tests/data/fixtures, see SOURCES.md).

use std::path::PathBuf;

use chrono::NaiveDate;
use paperscout_ingest::{detect, oai, parse_document, Format, Input, RecordError};
use paperscout_model::{Paper, Source};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(rel)
}

/// Detects the file's format (which must be `format`) and parses it; every record must parse.
fn read(rel: &str, format: Format) -> Vec<Paper> {
    let path = fixture(rel);
    assert_eq!(detect(&path).unwrap(), format, "{rel}");
    let input = Input::resolve(&path, None).unwrap();
    let records: Vec<_> = input.records(None).unwrap().collect();
    records
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{rel}: {e}")))
        .collect()
}

fn errors(rel: &str, format: Format) -> Vec<RecordError> {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    match parse_document(format, rel, &bytes) {
        Ok(records) => records.into_iter().filter_map(Result::err).collect(),
        Err(e) => vec![e],
    }
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn by_id<'a>(papers: &'a [Paper], id: &str) -> &'a Paper {
    papers
        .iter()
        .find(|p| p.id.as_str() == id)
        .unwrap_or_else(|| {
            panic!(
                "{id} not among {:?}",
                papers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>()
            )
        })
}

#[test]
fn arxiv_api_current_layout() {
    let papers = read(
        "arxiv-api-atom/search_query=all_testing_start0_max10.xml",
        Format::ArxivApi,
    );
    assert_eq!(papers.len(), 10);
    let p = by_id(&papers, "arxiv:2202.12139");
    assert_eq!(
        p.title,
        "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    );
    assert!(p
        .abstract_text
        .starts_with("Deep Learning (DL) has revolutionized"));
    assert_eq!(
        p.authors,
        ["Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker"]
    );
    assert_eq!(p.categories, ["cs.SE", "cs.LG"]);
    assert_eq!(
        (p.published, p.updated, p.version),
        (date(2022, 2, 24), date(2022, 2, 24), Some(1))
    );
    assert_eq!(
        p.aliases.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        ["doi:10.1109/icstw55395.2022.00035"]
    );
    assert_eq!(
        p.links.pdf.as_deref(),
        Some("https://arxiv.org/pdf/2202.12139")
    );
    assert_eq!(p.source, Source::ArxivApi);
    let page = paperscout_ingest::arxiv_api::parse_page(
        "x",
        &std::fs::read(fixture(
            "arxiv-api-atom/search_query=all_testing_start0_max10.xml",
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!((page.total, page.start), (Some(214_881), Some(0)));
}

#[test]
fn arxiv_api_legacy_layout_and_old_style_ids() {
    let papers = read(
        "arxiv-api-atom/legacy2016_search_query=au_del_maestro.xml",
        Format::ArxivApi,
    );
    assert_eq!(papers.len(), 10);
    let p = by_id(&papers, "arxiv:1201.4869");
    assert_eq!(
        p.title,
        "A Luttinger Liquid Core Inside Helium-4 Filled Nanopores"
    );
    assert!(
        p.abstract_text
            .starts_with("As helium-4 is cooled below 2.17 K"),
        "{}",
        p.abstract_text
    );
    assert!(!p.abstract_text.contains('\n'));
    let old = read(
        "arxiv-api-atom/id_list=astro-ph_0601001.xml",
        Format::ArxivApi,
    );
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].id.as_str(), "arxiv:astro-ph/0601001");
    let versioned = read(
        "arxiv-api-atom/legacy2016_id_list=1111.2011v2.xml",
        Format::ArxivApi,
    );
    assert_eq!(
        (versioned[0].id.as_str(), versioned[0].version),
        ("arxiv:1111.2011", Some(2))
    );
    assert!(
        versioned[0].published < versioned[0].updated,
        "{:?}",
        versioned[0]
    );
    assert_eq!(
        read("arxiv-api-atom/arxiv_transformer.xml", Format::ArxivApi).len(),
        5
    );
    assert_eq!(
        read(
            "arxiv-api-atom/id_list=0808.05394+1707.08567.xml",
            Format::ArxivApi
        )
        .len(),
        1
    );
}

#[test]
fn arxiv_api_error_and_empty_answers() {
    let errs = errors("arxiv-api-atom/error400_id_list=abc.xml", Format::ArxivApi);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].to_string().contains("incorrect id format for abc"),
        "{}",
        errs[0]
    );
    assert!(read(
        "arxiv-api-atom/empty_id_list=0000.0000.xml",
        Format::ArxivApi
    )
    .is_empty());
}

#[test]
fn oai_pmh_arxiv_raw_with_versions_and_resumption_token() {
    let rel = "arxiv-oai-pmh/arXivRaw_ListRecordsResponse.xml";
    let papers = read(rel, Format::ArxivOai);
    assert_eq!(papers.len(), 6);
    let p = by_id(&papers, "arxiv:0704.0716");
    assert_eq!(p.version, Some(4));
    assert_eq!(
        (p.published, p.updated),
        (date(2007, 4, 5), date(2008, 11, 14))
    );
    assert_eq!(p.title, "Limit distributions and scaling functions");
    assert_eq!(p.categories, ["math-ph", "math.MP"]);
    let first = by_id(&papers, "arxiv:0704.0471");
    assert_eq!(
        first.authors,
        ["D.V. Shetty", "S.J. Yennello", "G.A. Souliotis"]
    );
    assert_eq!(first.aliases.len(), 2, "both DOIs: {:?}", first.aliases);
    assert!(first.abstract_text.contains("extremely \" stiff \""));
    let oai::OaiAnswer::Page(page) =
        oai::parse_page(rel, &std::fs::read(fixture(rel)).unwrap()).unwrap()
    else {
        panic!("a page")
    };
    assert_eq!(
        page.resumption,
        Some(oai::Resumption {
            token: "726959|1001".into(),
            cursor: Some(0),
            complete_list_size: Some(58011)
        })
    );
    let one = read(
        "arxiv-oai-pmh/arXivRaw_GetRecordResponse.xml",
        Format::ArxivOai,
    );
    assert_eq!((one.len(), one[0].version), (1, Some(2)));
}

#[test]
fn oai_pmh_arxiv_and_dublin_core_formats() {
    let papers1 = read(
        "arxiv-oai-pmh/arXiv_ListRecords_physics-hep-ex.xml",
        Format::ArxivOai,
    );
    assert_eq!(papers1.len(), 3);
    let p = by_id(&papers1, "arxiv:1706.05371");
    assert_eq!(p.authors[0], "Tyler Anderson");
    assert_eq!(
        p.title,
        "Evaluation of Silicon Photomultipliers for use as Photosensors in Liquid Xenon Detectors"
    );
    assert_eq!(
        (p.published, p.updated),
        (date(2017, 6, 16), date(2017, 12, 12))
    );
    assert_eq!(p.categories, ["physics.ins-det", "hep-ex"]);
    assert_eq!(
        read(
            "arxiv-oai-pmh/arXiv_ListRecords_physics-hep-th.xml",
            Format::ArxivOai
        )
        .len(),
        3
    );
    assert_eq!(
        read("arxiv-oai-pmh/arXiv_GetRecord_single.xml", Format::ArxivOai).len(),
        1
    );

    let dc = read(
        "arxiv-oai-pmh/oai_dc_ListRecords_cs_test_arxiv_data.xml",
        Format::ArxivOai,
    );
    assert_eq!(dc.len(), 5);
    let p = by_id(&dc, "arxiv:1303.2033");
    assert_eq!(p.title, "Extended Fourier analysis of signals");
    assert_eq!(p.authors, ["Vilnis Liepins"]);
    assert!(p
        .abstract_text
        .starts_with("This summary of the doctoral thesis"));
    assert!(!p.abstract_text.contains("Comment:"));
    assert_eq!(
        (p.published, p.updated),
        (date(2013, 3, 8), date(2024, 1, 23))
    );
    assert_eq!(p.categories, ["cs"]);
}

#[test]
fn oai_pmh_errors_are_answers_not_panics() {
    for (rel, code) in [
        (
            "arxiv-oai-pmh/arXivRaw_ErrorResponseBadResumptionToken.xml",
            "badResumptionToken",
        ),
        (
            "arxiv-oai-pmh/arXivRaw_ErrorResponseIdDoesNotExist.xml",
            "idDoesNotExist",
        ),
        (
            "arxiv-oai-pmh/arXivRaw_ErrorResponseNoRecordsMatch.xml",
            "noRecordsMatch",
        ),
    ] {
        let answer = oai::parse_page(rel, &std::fs::read(fixture(rel)).unwrap()).unwrap();
        let oai::OaiAnswer::Error(e) = answer else {
            panic!("{rel}: an error")
        };
        assert_eq!(e.code, code);
    }
    // Ingesting a file: "no records match" is empty, the others are errors.
    assert!(read(
        "arxiv-oai-pmh/arXivRaw_ErrorResponseNoRecordsMatch.xml",
        Format::ArxivOai
    )
    .is_empty());
    let errs = errors(
        "arxiv-oai-pmh/arXivRaw_ErrorResponseBadResumptionToken.xml",
        Format::ArxivOai,
    );
    assert!(
        errs[0].to_string().contains("badResumptionToken"),
        "{}",
        errs[0]
    );
}

#[test]
fn arxiv_snapshot_lines() {
    let papers = read(
        "kaggle-arxiv-snapshot/arxiv-metadata-oai-snapshot.json",
        Format::ArxivSnapshot,
    );
    assert_eq!(papers.len(), 200);
    let p = by_id(&papers, "arxiv:0704.0001");
    assert_eq!(
        p.title,
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    );
    assert_eq!(&p.authors[..2], ["C. Balázs", "E. L. Berger"]);
    assert_eq!(
        (p.version, p.published, p.updated),
        (Some(2), date(2007, 4, 2), date(2007, 7, 24))
    );
    assert_eq!(p.aliases[0].as_str(), "doi:10.1103/physrevd.76.013009");
    assert_eq!(p.categories, ["hep-ph"]);
    assert_eq!(by_id(&papers, "arxiv:0704.0003").version, Some(3));
}

#[test]
fn arxiv_listing_feeds_rss_and_atom() {
    let rss = read("arxiv-rss/arxiv_rss.xml", Format::ArxivRss);
    assert_eq!(rss.len(), 4);
    let p = by_id(&rss, "arxiv:2609.26811");
    assert_eq!(
        p.title,
        "The Drift Contract: Spectral Updates for Depth-Robust Local Learning"
    );
    assert!(
        p.abstract_text
            .starts_with("Local learning trains each layer"),
        "{}",
        p.abstract_text
    );
    assert_eq!((p.published, p.version), (date(2026, 9, 24), Some(1)));
    assert_eq!(p.authors, ["Fabien Polly"]);
    // A replacement, or an old paper cross-listed today, does not date the paper.
    let older: Vec<_> = rss.iter().filter(|p| p.version > Some(1)).collect();
    assert_eq!(older.len(), 2);
    assert!(older
        .iter()
        .all(|p| (p.published, p.updated) == (None, date(2026, 9, 24))));
    let page = paperscout_ingest::arxiv_rss::parse_page(
        "x",
        &std::fs::read(fixture("arxiv-rss/arxiv_rss.xml")).unwrap(),
    )
    .unwrap();
    assert_eq!(page.skip_days, ["Sunday", "Saturday"]);

    let atom = read("arxiv-rss/arxiv_rss_example.xml", Format::ArxivRss);
    assert_eq!(atom.len(), 7);
    let p = by_id(&atom, "arxiv:2508.13426");
    assert_eq!(
        p.authors,
        ["Chunhua Liu", "Kabir Manandhar Shrestha", "Sukai Huang"]
    );
    assert_eq!(p.categories, ["cs.CL", "cs.AI"]);
    assert!(p.abstract_text.starts_with("As large language models"));
}

#[test]
fn hugging_face_daily_papers() {
    let papers = read("hf-daily-papers/hf_daily_papers.json", Format::HfDaily);
    assert_eq!(papers.len(), 30);
    let p = by_id(&papers, "arxiv:2606.00467");
    assert!(p.title.starts_with("On the Limits of LLM Adaptability"));
    assert_eq!((p.upvotes, p.published), (Some(0), date(2026, 5, 30)));
    assert_eq!(papers.iter().filter(|p| p.links.code.is_some()).count(), 16);
    assert!(papers
        .iter()
        .all(|p| p.upvotes.is_some() && !p.authors.is_empty()));
    assert!(papers.iter().any(|p| p.upvotes > Some(0)));
}

#[test]
fn openalex_works_rebuild_abstracts_and_find_arxiv_ids() {
    let page = read(
        "openalex/works_filter=title.search_augmenting-llms-with-chemistry-tools.json",
        Format::OpenAlex,
    );
    assert_eq!(page.len(), 2);
    let journal = by_id(&page, "doi:10.1038/s42256-024-00832-8");
    assert_eq!(
        journal.title,
        "Augmenting large language models with chemistry tools"
    );
    assert!(
        journal.abstract_text.split(' ').count() > 50,
        "{}",
        journal.abstract_text
    );
    assert_eq!(journal.published, date(2024, 5, 8));
    // Its preprint: the arXiv DOI and the arXiv location name the same arXiv paper.
    let preprint = by_id(&page, "arxiv:2304.05376");
    assert!(preprint.aliases.is_empty(), "{:?}", preprint.aliases);
    let single = read(
        "openalex/work_doi_10.1073_pnas.1414271111.json",
        Format::OpenAlex,
    );
    assert_eq!(single[0].id.as_str(), "doi:10.1073/pnas.1414271111");
    let bare = read(
        "openalex/work_doi_10.1007_s40278-023-41815-2_no-abstract.json",
        Format::OpenAlex,
    );
    assert_eq!(bare[0].abstract_text, "");
    // A projection without a title is not a paper; an HTML 404 page is not JSON.
    let errs = errors(
        "openalex/work_select=open_access+doi.json",
        Format::OpenAlex,
    );
    assert!(
        errs[0].to_string().contains("neither a work"),
        "{}",
        errs[0]
    );
    let errs = errors("openalex/error404_work_not_found.html", Format::OpenAlex);
    assert!(errs[0].to_string().contains("error page"), "{}", errs[0]);
    assert!(detect(&fixture("openalex/error404_work_not_found.html"))
        .unwrap_err()
        .to_string()
        .contains("HTML"));
}

#[test]
fn semantic_scholar_search_batch_and_single() {
    let search = read(
        "semantic-scholar/semantic_scholar_transformer.json",
        Format::SemanticScholar,
    );
    assert_eq!(search.len(), 5);
    let swin = by_id(&search, "arxiv:2103.14030");
    assert_eq!(swin.aliases[0].as_str(), "doi:10.1109/iccv48922.2021.00986");
    let batch = read(
        "semantic-scholar/s2_paper_batch_rich_fields_with_null.json",
        Format::SemanticScholar,
    );
    assert_eq!(batch.len(), 3, "the null is skipped");
    let did = by_id(&batch, "doi:10.2139/ssrn.288970");
    assert_eq!(did.authors[..2], ["Marianne Bertrand", "E. Duflo"]);
    assert_eq!(did.published, date(2001, 10, 1));
    let single = read(
        "semantic-scholar/s2_paper_DOI_10.48550_arxiv.2312.07559.json",
        Format::SemanticScholar,
    );
    assert_eq!(
        (single[0].id.as_str(), single[0].aliases.len()),
        ("arxiv:2312.07559", 0)
    );
    assert_eq!(
        read(
            "semantic-scholar/s2_paper_search_query=turing_fields=title.json",
            Format::SemanticScholar
        )
        .len(),
        100
    );
    assert_eq!(
        read(
            "semantic-scholar/s2_paper_search_match.json",
            Format::SemanticScholar
        )
        .len(),
        1
    );
    assert_eq!(
        read(
            "semantic-scholar/s2_paper_search_match_rich_fields.json",
            Format::SemanticScholar
        )
        .len(),
        1
    );
    assert!(read(
        "semantic-scholar/s2_paper_search_empty.json",
        Format::SemanticScholar
    )
    .is_empty());
}

#[test]
fn semantic_scholar_errors_and_non_papers() {
    for rel in [
        "semantic-scholar/s2_error_404_not_found.json",
        "semantic-scholar/s2_error404_paper_DOI_not_found.json",
    ] {
        let errs = errors(rel, Format::SemanticScholar);
        assert!(errs[0].to_string().contains("not found"), "{}", errs[0]);
    }
    let errs = errors(
        "semantic-scholar/s2_paper_authors.json",
        Format::SemanticScholar,
    );
    assert!(
        errs[0].to_string().contains("authors, not of papers"),
        "{}",
        errs[0]
    );
    // A bulk page asked only for citation counts: every record says what to ask for.
    let errs = errors(
        "semantic-scholar/s2_paper_search_bulk_kubernetes_sort=citationCount_desc_lastpage.json",
        Format::SemanticScholar,
    );
    assert_eq!(errs.len(), 27);
    assert!(errs[0].to_string().contains("fields=title"), "{}", errs[0]);
    assert!(errs[0].record.is_some(), "{:?}", errs[0]);
}

#[test]
fn bibtex_files() {
    let nerf = read("bibtex/NeRF-and-Beyond.bib", Format::Bibtex);
    assert_eq!(nerf.len(), 46);
    let p = by_id(&nerf, "arxiv:2008.03824");
    assert_eq!(
        p.title,
        "Neural Reflectance Fields for Appearance Acquisition"
    );
    assert!(
        p.authors.contains(&"Miloš Hašan".to_string()),
        "{:?}",
        p.authors
    );
    assert_eq!(p.published, date(2020, 1, 1));
    let nerd = by_id(&nerf, "arxiv:2012.03918");
    assert_eq!(
        nerd.title,
        "NeRD: Neural Reflectance Decomposition from Image Collections"
    );
    assert!(
        nerf.iter().any(|p| p.id.is_title()),
        "entries without ids get title ids"
    );
    let d2l = read("bibtex/d2l.bib", Format::Bibtex);
    assert!(d2l.len() > 450, "{}", d2l.len());
}

/// Every entry of a reference file, detected from the content.
fn reference_entries(rel: &str) -> (Format, Vec<paperscout_ingest::reference::Entry>) {
    assert!(matches!(
        detect(&fixture(rel)).unwrap(),
        Format::Ris | Format::CslJson
    ));
    let bytes = std::fs::read(fixture(rel)).unwrap();
    paperscout_ingest::reference::parse_entries(rel, &bytes).unwrap()
}

#[test]
fn ris_files_as_zotero_exports_them() {
    let (format, entries) = reference_entries("reference-managers/zotero.ris");
    assert_eq!(format, Format::Ris);
    assert_eq!(entries.len(), 5);
    let ok = |i: usize| entries[i].paper.as_ref().unwrap();
    let attention = ok(0);
    assert_eq!(attention.id.to_string(), "arxiv:1706.03762");
    assert_eq!(attention.source, Source::Ris);
    assert_eq!(attention.title, "Attention Is All You Need");
    assert_eq!(
        attention.authors,
        ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    );
    assert_eq!(attention.published, date(2017, 6, 12));
    assert!(attention.abstract_text.starts_with("The dominant sequence"));
    // A publisher DOI; then a title-only entry.
    assert_eq!(ok(1).id.to_string(), "doi:10.1145/3397271.3401075");
    assert_eq!(ok(1).published, date(2020, 7, 25));
    assert!(ok(2).id.is_title());
    assert_eq!(ok(2).authors, ["Stephen E. Robertson", "Steve Walker"]);
    assert_eq!(ok(2).published, date(1994, 1, 1));
    // No title: named by the line its `TY` is on and the missing tag.
    let broken = entries[3].paper.as_ref().unwrap_err();
    assert_eq!((entries[3].line, broken.line), (38, 38));
    assert!(broken.to_string().contains("TI"), "{broken}");
    // A wrapped abstract goes on with its field.
    let sbert = ok(4);
    assert_eq!(sbert.id.to_string(), "arxiv:1908.10084");
    assert!(
        sbert.abstract_text.ends_with("both sentences are fed into the network, which causes a massive computational overhead."),
        "{}",
        sbert.abstract_text
    );
    // Through the ingest pipeline, the good entries are papers and the bad one an error.
    let errs = errors("reference-managers/zotero.ris", Format::Ris);
    assert_eq!(errs.len(), 1);
}

#[test]
fn csl_json_files_as_zotero_exports_them() {
    let (format, entries) = reference_entries("reference-managers/zotero-csl.json");
    assert_eq!(format, Format::CslJson);
    assert_eq!(entries.len(), 5);
    let bert = entries[0].paper.as_ref().unwrap();
    assert_eq!(bert.id.to_string(), "arxiv:1810.04805");
    assert_eq!(bert.source, Source::CslJson);
    assert_eq!(bert.authors.len(), 4);
    assert_eq!(bert.authors[1], "Ming-Wei Chang");
    assert_eq!(bert.published, date(2019, 5, 24));
    assert_eq!(
        entries[0].line, 2,
        "an item's line is where its object opens"
    );
    let dpr = entries[1].paper.as_ref().unwrap();
    assert_eq!(dpr.id.to_string(), "doi:10.18653/v1/2020.emnlp-main.550");
    assert_eq!(dpr.published, date(2020, 11, 1));
    let bm25 = entries[2].paper.as_ref().unwrap();
    assert!(bm25.id.is_title());
    assert_eq!(bm25.published, date(2009, 1, 1));
    // Broken items are named by their id and line; the others still parse.
    let authors = entries[3].paper.as_ref().unwrap_err();
    assert_eq!(entries[3].key.as_deref(), Some("broken-authors"));
    assert!(authors.to_string().contains("author"), "{authors}");
    assert_eq!(authors.line, entries[3].line);
    let untitled = entries[4].paper.as_ref().unwrap_err();
    assert_eq!(entries[4].key.as_deref(), Some("42"));
    assert!(untitled.to_string().contains("title"), "{untitled}");
    // Not JSON at all: one error naming the line.
    let err =
        paperscout_ingest::reference::parse_entries("x.json", b"[\n{\"type\": \"article\",\n")
            .unwrap_err();
    assert!(err.to_string().contains("x.json"), "{err}");
}

#[test]
fn a_broken_bibtex_entry_is_named_and_the_rest_parse() {
    let text = "@article{good1, title = {One}, year = {2020}}\n\n@article{bad2, title = {Two, year = 2020\n\n@misc{good3, title = {Three {\\\"o}}}\n";
    let records = parse_document(Format::Bibtex, "refs.bib", text.as_bytes()).unwrap();
    assert_eq!(records.len(), 3);
    let err = records[1].as_ref().unwrap_err();
    assert_eq!(
        (err.line, err.record.as_deref()),
        (3, Some("bad2")),
        "{err}"
    );
    assert_eq!(records[2].as_ref().unwrap().title, "Three ö");
}

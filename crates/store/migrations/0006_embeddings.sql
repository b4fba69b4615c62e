-- Sentence embeddings of the search index's documents (knowledge entries and
-- page passages), keyed by index document id. Derived data kept beside its
-- source so a restart or an index rebuild does not run the model again;
-- `hash` fingerprints the text a vector was computed from (an edit changes
-- it), `model` names the model (another model's vectors are never compared).
-- Vectors are little-endian f32 arrays.
CREATE TABLE embeddings (
    doc_id          TEXT PRIMARY KEY,
    model           TEXT NOT NULL,
    hash            TEXT NOT NULL,
    vector          BLOB NOT NULL,
    question_vector BLOB
);
CREATE INDEX embeddings_by_model ON embeddings (model);

DROP TABLE detector_memories;

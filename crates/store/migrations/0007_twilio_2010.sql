-- What the 2010-04-01 API shows beside the 2008 fields: a participant's
-- hold, label and coaching; why a conference ended and whose leaving ended
-- it; a call's direction. Every new column has a default (or is NULL), so
-- rows written before keep reading back as they did.
ALTER TABLE participants ADD COLUMN hold BIGINT NOT NULL DEFAULT 0 CHECK (hold IN (0, 1));
ALTER TABLE participants ADD COLUMN label TEXT;
ALTER TABLE participants ADD COLUMN call_sid_to_coach TEXT;
-- Twilio addresses a participant by its label within its conference.
CREATE UNIQUE INDEX participants_by_label
    ON participants (conference_sid, label) WHERE label IS NOT NULL;
ALTER TABLE conferences ADD COLUMN reason_ended TEXT;
ALTER TABLE conferences ADD COLUMN call_sid_ending TEXT;
ALTER TABLE calls ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound'
    CHECK (direction IN ('inbound', 'outbound-api', 'outbound-dial'));

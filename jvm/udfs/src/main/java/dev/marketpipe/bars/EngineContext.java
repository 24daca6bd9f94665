package dev.marketpipe.bars;

import java.util.Map;

/**
 * Everything the engine needs besides its state (not checkpointed): rules and reference data;
 * mirrors Python {@code udfs.bars.engine.Context}. Get one from {@link Reference#context}.
 */
public final class EngineContext {
    public final BarRules rules;
    public final ConditionTable conditions;
    public final MarketCalendar calendar;
    /** Tape code of the symbol's listing exchange; null when unknown. */
    public final String listingExchange;
    /** Condition tables of particular feeds (a trade's {@code source}); others use {@link #conditions}. */
    public final Map<String, ConditionTable> feedConditions;

    public EngineContext(BarRules rules, ConditionTable conditions, MarketCalendar calendar, String listingExchange,
                         Map<String, ConditionTable> feedConditions) {
        this.rules = rules;
        this.conditions = conditions;
        this.calendar = calendar;
        this.listingExchange = listingExchange;
        this.feedConditions = feedConditions;
    }

    /** Python {@code Context.table}: the condition table of a trade's feed. */
    public ConditionTable table(String source) {
        if (source == null || feedConditions.isEmpty()) {
            return conditions;
        }
        return feedConditions.getOrDefault(source, conditions);
    }
}

//! Diesel table definitions, written by hand to match both `migrations/postgres` and
//! `migrations/sqlite`. Only SQL types common to both backends are used: ids and JSON are
//! `Text`, instants are `BigInt` epoch milliseconds.

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        manager_id -> Nullable<Text>,
        regions -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        display_name -> Text,
        role -> Text,
        team_id -> Nullable<Text>,
        manager_id -> Nullable<Text>,
        regions -> Text,
        industries -> Text,
        skills -> Text,
        capacity -> Integer,
        active -> Bool,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    rep_loads (user_id) {
        user_id -> Text,
        open_leads -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        token_hash -> Text,
        token_prefix -> Text,
        created_by -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        legal_name -> Nullable<Text>,
        uscc -> Nullable<Text>,
        legal_representative -> Nullable<Text>,
        industry -> Nullable<Text>,
        province -> Nullable<Text>,
        city -> Nullable<Text>,
        address -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        website -> Nullable<Text>,
        tier -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        custom -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        title -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        decision_role -> Nullable<Text>,
        concerns -> Text,
        last_contacted_at -> Nullable<BigInt>,
        custom -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    leads (id) {
        id -> Text,
        name -> Text,
        company -> Nullable<Text>,
        company_key -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        email_domain -> Nullable<Text>,
        title -> Nullable<Text>,
        province -> Nullable<Text>,
        city -> Nullable<Text>,
        industry -> Nullable<Text>,
        source -> Text,
        product_interest -> Nullable<Text>,
        budget_cents -> Nullable<BigInt>,
        currency -> Text,
        notes -> Nullable<Text>,
        custom -> Text,
        status -> Text,
        owner_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
        score -> Nullable<Integer>,
        grade -> Nullable<Text>,
        score_breakdown -> Text,
        assignment -> Nullable<Text>,
        claim_due_at -> Nullable<BigInt>,
        first_touch_due_at -> Nullable<BigInt>,
        accepted_at -> Nullable<BigInt>,
        first_touch_at -> Nullable<BigInt>,
        reassign_count -> Integer,
        possible_duplicate -> Bool,
        duplicate_candidates -> Text,
        priority -> Text,
        created_by -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        rule_id -> Nullable<Text>,
        missing_fields -> Text,
        lapsed_by -> Text,
        first_touch_overdue_at -> Nullable<BigInt>,
        escalated_at -> Nullable<BigInt>,
        disqualify_reason -> Nullable<Text>,
        disqualify_note -> Nullable<Text>,
        score_version -> BigInt,
        company_block -> Nullable<Text>,
        merged_into -> Nullable<Text>,
        assigned_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    external_refs (entity, system, external_id) {
        entity -> Text,
        system -> Text,
        external_id -> Text,
        entity_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        id -> Text,
        entity -> Text,
        entity_id -> Text,
        action -> Text,
        actor_id -> Text,
        at -> BigInt,
        changes -> Text,
        request_id -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    journal_head (id) {
        id -> Integer,
        last_hash -> Text,
        appends -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        event_type -> Text,
        occurred_at -> BigInt,
        entity -> Text,
        entity_id -> Text,
        data -> Text,
        account_id -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (principal, idem_key) {
        principal -> Text,
        idem_key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        response -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    config_entries (key) {
        key -> Text,
        value -> Text,
        version -> BigInt,
        updated_by -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    assignment_rules (id) {
        id -> Text,
        name -> Text,
        priority -> Integer,
        active -> Bool,
        conditions -> Text,
        team_id -> Nullable<Text>,
        user_ids -> Text,
        strategy -> Text,
        top_n -> Nullable<Integer>,
        max_load_ratio -> Nullable<Double>,
        claim_timeout_secs -> BigInt,
        first_touch_timeout_secs -> BigInt,
        max_reassignments -> Integer,
        calendar_id -> Nullable<Text>,
        rr_cursor -> Nullable<Text>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    activities (id) {
        id -> Text,
        lead_id -> Nullable<Text>,
        opportunity_id -> Nullable<Text>,
        channel -> Text,
        action -> Text,
        reached -> Bool,
        summary -> Text,
        contact_id -> Nullable<Text>,
        next_action -> Nullable<Text>,
        next_action_due_at -> Nullable<BigInt>,
        evidence -> Text,
        priority_flagged -> Bool,
        created_by -> Text,
        created_at -> BigInt,
        fulfilled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    calendars (id) {
        id -> Text,
        name -> Text,
        time_zone -> Text,
        hours -> Text,
        holidays -> Text,
        makeup_workdays -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    opportunities (id) {
        id -> Text,
        account_id -> Text,
        primary_contact_id -> Nullable<Text>,
        name -> Text,
        amount_cents -> Nullable<BigInt>,
        currency -> Text,
        expected_close_date -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        lead_id -> Nullable<Text>,
        stage -> Text,
        probability -> Integer,
        status -> Text,
        stage_entered_at -> BigInt,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        lost_reason -> Nullable<Text>,
        competitor -> Nullable<Text>,
        stalled -> Bool,
        priority -> Text,
        closed_at -> Nullable<BigInt>,
        created_by -> Text,
        deleted_at -> Nullable<BigInt>,
        regression_count -> Integer,
        custom -> Text,
    }
}

diesel::table! {
    opportunity_stages (id) {
        id -> Text,
        opportunity_id -> Text,
        from_stage -> Nullable<Text>,
        to_stage -> Text,
        direction -> Text,
        reason -> Nullable<Text>,
        from_entered_at -> Nullable<BigInt>,
        secs_in_stage -> Nullable<BigInt>,
        actor_id -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    quotes (id) {
        id -> Text,
        opportunity_id -> Text,
        number -> Text,
        currency -> Text,
        items -> Text,
        discount_bp -> BigInt,
        subtotal_cents -> BigInt,
        discount_cents -> BigInt,
        total_cents -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
        valid_until -> Nullable<Text>,
        submitted_by -> Nullable<Text>,
        submitted_at -> Nullable<BigInt>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<BigInt>,
        decision_comment -> Nullable<Text>,
        sent_at -> Nullable<BigInt>,
        created_by -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    quote_views (id) {
        id -> Text,
        quote_id -> Text,
        event -> Text,
        at -> BigInt,
        page -> Nullable<Integer>,
        recorded_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    contracts (id) {
        id -> Text,
        number -> Text,
        title -> Text,
        opportunity_id -> Text,
        account_id -> Text,
        owner_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        amount_cents -> BigInt,
        currency -> Text,
        status -> Text,
        review_round -> Integer,
        required_approvals -> Text,
        signed_at -> Nullable<BigInt>,
        signatory -> Nullable<Text>,
        signature_ref -> Nullable<Text>,
        paid_cents -> BigInt,
        success_plan -> Nullable<Text>,
        live_at -> Nullable<BigInt>,
        nps_due_at -> Nullable<BigInt>,
        nps_survey_sent_at -> Nullable<BigInt>,
        nps_score -> Nullable<Integer>,
        nps_comment -> Nullable<Text>,
        nps_recorded_at -> Nullable<BigInt>,
        completed_at -> Nullable<BigInt>,
        terminated_at -> Nullable<BigInt>,
        terminated_reason -> Nullable<Text>,
        created_by -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        end_date -> Nullable<Text>,
        custom -> Text,
    }
}

diesel::table! {
    contract_approvals (id) {
        id -> Text,
        contract_id -> Text,
        review_round -> Integer,
        role -> Text,
        decision -> Text,
        clause_revisions -> Text,
        comment -> Nullable<Text>,
        actor_id -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    installments (contract_id, seq) {
        contract_id -> Text,
        seq -> Integer,
        due_date -> Text,
        amount_cents -> BigInt,
        paid_cents -> BigInt,
        status -> Text,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        contract_id -> Text,
        bank_txn_id -> Text,
        amount_cents -> BigInt,
        paid_at -> BigInt,
        installment_seq -> Nullable<Integer>,
        recorded_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    routing_rules (id) {
        id -> Text,
        name -> Text,
        priority -> Integer,
        active -> Bool,
        conditions -> Text,
        team_id -> Nullable<Text>,
        engineer_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sla_policies (id) {
        id -> Text,
        name -> Text,
        priority -> Integer,
        active -> Bool,
        conditions -> Text,
        response_secs -> BigInt,
        resolution_secs -> BigInt,
        warn_ratio -> Double,
        calendar_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    work_orders (id) {
        id -> Text,
        number -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        status -> Text,
        account_id -> Text,
        contract_id -> Nullable<Text>,
        contact_name -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        device_sn -> Nullable<Text>,
        product_model -> Nullable<Text>,
        description -> Nullable<Text>,
        priority -> Text,
        channel -> Text,
        team_id -> Nullable<Text>,
        engineer_id -> Nullable<Text>,
        routing -> Text,
        sla_policy_id -> Nullable<Text>,
        response_due_at -> Nullable<BigInt>,
        response_warn_at -> Nullable<BigInt>,
        resolution_due_at -> Nullable<BigInt>,
        resolution_warn_at -> Nullable<BigInt>,
        response_warned_at -> Nullable<BigInt>,
        response_breached_at -> Nullable<BigInt>,
        resolution_warned_at -> Nullable<BigInt>,
        resolution_breached_at -> Nullable<BigInt>,
        accepted_at -> Nullable<BigInt>,
        resolved_at -> Nullable<BigInt>,
        paused_at -> Nullable<BigInt>,
        paused_from -> Nullable<Text>,
        paused_secs -> BigInt,
        step_data -> Text,
        cancel_reason -> Nullable<Text>,
        created_by -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        asset_id -> Nullable<Text>,
        unknown_asset -> Bool,
        in_warranty -> Nullable<Bool>,
        custom -> Text,
    }
}

diesel::table! {
    sequences (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    assets (id) {
        id -> Text,
        serial_number -> Text,
        product_model -> Nullable<Text>,
        account_id -> Text,
        contract_id -> Nullable<Text>,
        work_order_id -> Nullable<Text>,
        installed_at -> Nullable<BigInt>,
        warranty_until -> Nullable<Text>,
        status -> Text,
        custom -> Text,
        created_by -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    account_signals (id) {
        id -> Text,
        account_id -> Text,
        reason -> Text,
        subject_id -> Text,
        period_key -> Text,
        asset_id -> Nullable<Text>,
        contract_id -> Nullable<Text>,
        detail -> Text,
        raised_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        url -> Text,
        secret -> Text,
        event_types -> Text,
        format -> Text,
        active -> Bool,
        description -> Nullable<Text>,
        event_cursor -> BigInt,
        failing_since -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
        disabled_reason -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        created_by -> Text,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        event_id -> BigInt,
        event_type -> Text,
        status -> Text,
        attempts -> Integer,
        round_failures -> Integer,
        next_attempt_at -> BigInt,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        attempt -> Integer,
        at -> BigInt,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    imports (id) {
        id -> Text,
        entity -> Text,
        dry_run -> Bool,
        status -> Text,
        total -> BigInt,
        processed -> BigInt,
        succeeded -> BigInt,
        failed -> BigInt,
        created_count -> BigInt,
        updated_count -> BigInt,
        principal -> Text,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        error -> Nullable<Text>,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    import_chunks (import_id, first_row) {
        import_id -> Text,
        first_row -> BigInt,
        row_count -> BigInt,
        rows -> Text,
    }
}

diesel::table! {
    import_errors (import_id, seq) {
        import_id -> Text,
        seq -> BigInt,
        row_no -> BigInt,
        field -> Nullable<Text>,
        code -> Text,
        message -> Text,
    }
}

diesel::table! {
    lead_lapses (id) {
        id -> Text,
        lead_id -> Text,
        kind -> Text,
        outcome -> Text,
        owner_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        at -> BigInt,
    }
}

diesel::table! {
    digest_runs (team_id, day) {
        team_id -> Text,
        day -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    custom_fields (id) {
        id -> Text,
        entity -> Text,
        field_key -> Text,
        label -> Text,
        field_type -> Text,
        required -> Bool,
        options -> Text,
        description -> Nullable<Text>,
        version -> BigInt,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    custom_writes (seq) {
        seq -> BigInt,
        entity -> Text,
        entity_id -> Text,
        op -> Text,
        client -> Text,
        custom -> Text,
        at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    lead_lapses,
    digest_runs,
    custom_fields,
    custom_writes,
    webhooks,
    webhook_deliveries,
    webhook_attempts,
    imports,
    import_chunks,
    import_errors,
    assets,
    account_signals,
    opportunities,
    opportunity_stages,
    quotes,
    quote_views,
    sequences,
    contracts,
    contract_approvals,
    installments,
    payments,
    work_orders,
    routing_rules,
    sla_policies,
    calendars,
    config_entries,
    assignment_rules,
    activities,
    teams,
    users,
    rep_loads,
    api_keys,
    accounts,
    contacts,
    leads,
    external_refs,
    audit_log,
    journal_head,
    events,
    idempotency_keys,
);

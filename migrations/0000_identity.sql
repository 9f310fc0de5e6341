CREATE TABLE `accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`handle` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `accounts_handle_unique` ON `accounts` (`handle`);--> statement-breakpoint
CREATE TABLE `devices` (
	`account_id` text NOT NULL,
	`device_id` integer NOT NULL,
	`name` text,
	`registration_id` integer NOT NULL,
	`identity_key` text NOT NULL,
	`signed_prekey_id` integer NOT NULL,
	`signed_prekey` text NOT NULL,
	`signed_prekey_signature` text NOT NULL,
	`pq_last_resort_id` integer,
	`pq_last_resort_key` text,
	`pq_last_resort_signature` text,
	`created_at` integer NOT NULL,
	`removed_at` integer,
	PRIMARY KEY(`account_id`, `device_id`),
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `one_time_prekeys` (
	`account_id` text NOT NULL,
	`device_id` integer NOT NULL,
	`key_id` integer NOT NULL,
	`public_key` text NOT NULL,
	PRIMARY KEY(`account_id`, `device_id`, `key_id`)
);
--> statement-breakpoint
CREATE TABLE `pq_prekeys` (
	`account_id` text NOT NULL,
	`device_id` integer NOT NULL,
	`key_id` integer NOT NULL,
	`public_key` text NOT NULL,
	`signature` text NOT NULL,
	PRIMARY KEY(`account_id`, `device_id`, `key_id`)
);
--> statement-breakpoint
CREATE TABLE `verifications` (
	`id` text PRIMARY KEY NOT NULL,
	`handle` text NOT NULL,
	`code_hash` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer
);
--> statement-breakpoint
CREATE INDEX `verifications_handle_idx` ON `verifications` (`handle`,`created_at`);